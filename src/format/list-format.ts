// The exact text of Proxmox's `vma list`: qmrestore and scripts parse it.

import { MAX_DEV_ID } from './constants.js'
import { cTime } from './ctime.js'
import type { VmaHeader } from './header.js'

export function vmaListText(h: VmaHeader): string {
  let out = ''
  for (const c of h.configs) out += `CFG: size: ${c.data.length} name: ${c.name}\n`
  for (const d of h.deviceList) {
    if (d.id > MAX_DEV_ID) continue
    out += d.name === 'vmstate' ? `VMSTATE: dev_id=${d.id} memory: ${d.size}\n` : `DEV: dev_id=${d.id} size: ${d.size} devname: ${d.name}\n`
  }
  out += `CTIME: ${cTime(h.ctime)}\n`
  return out
}
