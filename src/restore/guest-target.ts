// What `ls` and `get` are pointed at: DISK[:VOLUME][:/PATH]. DISK is a
// device as `info` shows it (`drive-scsi0`) or without `drive-` (`scsi0`);
// VOLUME as `info --free-space` names it (`p1`, `vghome/home`), absent for a
// filesystem on the whole disk; PATH is absolute inside the guest. A volume
// name never holds ':' (LVM forbids it; partitions are pN), so the first
// ":/" starts the path.

import { findDevice } from '../format/device-name.js'
import { VmaError } from '../util/errors.js'
import type { GuestVolume } from './guest-volumes.js'
import type { GuestFs } from '../files/guest-fs.js'

export interface Target {
  disk: string
  volume?: string
  /** Absolute, as given. */
  path?: string
}

export function parseTarget(spec: string): Target {
  const at = spec.indexOf(':/')
  const head = at >= 0 ? spec.slice(0, at) : spec
  const path = at >= 0 ? spec.slice(at + 1) : undefined
  const colon = head.indexOf(':')
  const disk = colon >= 0 ? head.slice(0, colon) : head
  const volume = colon >= 0 ? head.slice(colon + 1) : undefined
  if (!disk || volume === '' || volume?.includes(':')) {
    throw new VmaError('VMA_USAGE', -1, `${JSON.stringify(spec)}: name DISK[:VOLUME][:/PATH], e.g. scsi0:p1:/etc/hostname or scsi0:vg/root:/etc (PATH absolute)`)
  }
  return { disk, ...(volume !== undefined ? { volume } : {}), ...(path !== undefined ? { path } : {}) }
}

/** The disk's name as the archive spells it, or a usage error listing the disks. */
export function diskNamed(names: readonly string[], asked: string): string {
  const d = findDevice(
    names.map(name => ({ name })),
    asked,
  )
  if (!d) throw new VmaError('VMA_USAGE', -1, `no disk named ${JSON.stringify(asked)} in the archive (it has: ${names.join(', ') || 'none'})`)
  return d.name
}

/** The volume `t` names and its opened filesystem; a volume no reader reads is VMA_GUEST_UNSUPPORTED (exit 2). */
export function volumeNamed(volumes: readonly GuestVolume[], disk: string, asked: string | undefined): GuestVolume & { fs: GuestFs } {
  const id = asked ?? 'disk'
  // An LV is listed on the disk of its first extent, and may be named on any disk of the archive.
  const v = volumes.find(x => x.disk === disk && x.id === id) ?? (id.includes('/') ? volumes.find(x => x.id === id) : undefined)
  const where = `${disk}${asked ? `:${asked}` : ''}`
  if (!v) {
    const has = volumes.filter(x => x.disk === disk).map(x => (x.id === 'disk' ? '(whole disk: no VOLUME)' : x.id))
    const why = asked ? `no volume ${JSON.stringify(asked)}` : 'no filesystem on the whole disk: name a VOLUME'
    throw new VmaError('VMA_NOT_FOUND', -1, `${where}: ${why} (the disk has: ${has.join(', ') || 'none'}; vma-opt ls ARCHIVE lists them)`)
  }
  if (!v.fs) throw new VmaError('VMA_GUEST_UNSUPPORTED', -1, `${where}: ${v.reason ?? `cannot read ${v.kind} yet`}`)
  return v as GuestVolume & { fs: GuestFs }
}
