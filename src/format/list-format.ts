// The exact text of Proxmox's `vma list`: qmrestore and scripts parse it.

import { MAX_DEV_ID } from './constants.js'
import { cTimeOrNull } from './ctime.js'
import type { VmaHeader } from './header.js'

export function vmaListText(h: VmaHeader): string {
  let out = ''
  for (const c of h.configs) out += `CFG: size: ${c.data.length} name: ${c.name}\n`
  for (const d of h.deviceList) {
    if (d.id > MAX_DEV_ID) continue
    out += d.name === 'vmstate' ? `VMSTATE: dev_id=${d.id} memory: ${d.size}\n` : `DEV: dev_id=${d.id} size: ${d.size} devname: ${d.name}\n`
  }
  // ctime()'s newline ends the line; when it returns NULL, printf prints "(null)" and no newline.
  const when = cTimeOrNull(h.ctimeRaw)
  out += when === undefined ? 'CTIME: (null)' : `CTIME: ${when}\n`
  return out
}
