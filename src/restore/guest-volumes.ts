// The volumes of an archive's disks, named as `info --free-space` names them
// (`p1`, `vghome/home`; a filesystem on the whole disk is `disk` there and
// has no VOLUME part here), found by the trim's own layout discovery
// (trim/disk-layout: partition tables, whole-disk signatures; trim/lvm:
// volume groups over every disk), so the names match exactly. Each volume is
// then offered to the guest filesystem readers (files/open-guest-fs); a
// volume no reader claims is named by the trim's signature probes, so `ls`
// can say "cannot read btrfs yet" rather than "unknown".

import type { TrimDisk } from '../trim/disk/disk.js'
import type { VolumeReader } from '../trim/volume.js'
import { diskLayout } from '../trim/disk-layout.js'
import { type VolumeLayout, volumeReader } from '../trim/layout.js'
import { findSignatures, TABLE_KINDS } from '../trim/signatures.js'
import { readPv } from '../trim/lvm/lvm-label.js'
import { assembleVgs, type FoundPv } from '../trim/lvm/lvm.js'
import { extKind, rawFeatures } from '../trim/ext/ext4-superblock.js'
import { reasonOf } from '../trim/skip.js'
import { openGuestFs } from '../files/open-guest-fs.js'
import type { GuestFs } from '../files/guest-fs.js'
import { VmaError } from '../util/errors.js'

export interface GuestVolume {
  disk: string
  /** As `info --free-space` names it: `p1`, `vg/lv`, or `disk` for the whole disk. */
  id: string
  size: number
  /** The filesystem (ext4, ntfs, btrfs...), `lvm2-pv`, `swap`, `raw`, ... */
  kind: string
  label?: string
  /** The opened filesystem, when a reader claims the volume. */
  fs?: GuestFs
  /** Why ls/get cannot read it (a container, an unread filesystem, damage). */
  reason?: string
  /** The volume's bytes, for the readers. */
  reader: VolumeReader
}

/** Which volumes to open with the readers (the others are only probed): all for `ls`, the one named for `get`. */
export type OpenWhich = (disk: string, id: string) => boolean

/** Every volume of every disk, in disk order then as the layout lists them; LVs after the PVs' disks. */
export async function guestVolumes(disks: TrimDisk[], which: OpenWhich = () => true): Promise<GuestVolume[]> {
  const all = new Map(disks.map(d => [d.name, d]))
  const out: GuestVolume[] = []
  const pvs: FoundPv[] = []
  for (const disk of disks) {
    let layout
    try {
      layout = await diskLayout(disk)
    } catch (e) {
      out.push({ disk: disk.name, id: 'disk', size: disk.size, kind: 'raw', reason: `partition table unreadable: ${reasonOf(e)}`, reader: volumeReader(wholeDisk(disk), all) })
      continue
    }
    for (const d of layout.decided) {
      // Extended partitions, rejected entries, an unreadable whole disk: listed with the reason, never read.
      out.push({ disk: disk.name, id: d.id, size: d.length, kind: d.kind, reason: d.reason ?? 'not readable', reader: volumeReader(wholeDisk(disk), all) })
    }
    for (const c of layout.candidates) {
      const reader = volumeReader(c.layout, all)
      const v = await describe(disk.name, c.id, reader, false, which(disk.name, c.id))
      if (c.skipReason && !v.fs) v.reason ??= c.skipReason
      out.push(v)
      if (v.kind === 'lvm2-pv') {
        try {
          pvs.push({ disk: disk.name, devStart: c.layout.segments[0]!.legs[0]!.devStart, size: c.layout.size, containerId: c.id, info: await readPv(reader) })
        } catch (e) {
          v.reason = `LVM2 PV: ${reasonOf(e)}`
        }
      }
    }
  }
  for (const vg of assembleVgs(pvs)) {
    const home = pvs.find(p => p.info.vgName === vg.name)!.disk
    if (vg.reason) {
      out.push({ disk: home, id: `${vg.name}/*`, size: 0, kind: 'lvm2-vg', reason: vg.reason, reader: emptyReader })
      continue
    }
    for (const lv of vg.lvs) {
      if (!lv.layout) {
        out.push({ disk: home, id: lv.id, size: 0, kind: 'lv', reason: lv.reason ?? 'not mapped', reader: emptyReader })
        continue
      }
      const on = lv.layout.segments[0]!.legs[0]!.disk
      out.push(await describe(on, lv.id, volumeReader(lv.layout, all), true, which(on, lv.id)))
    }
  }
  return out
}

const wholeDisk = (d: TrimDisk): VolumeLayout => ({ id: 'disk', size: d.size, segments: [{ volStart: 0, length: d.size, chunk: d.size, legs: [{ disk: d.name, devStart: 0 }] }] })

const emptyReader: VolumeReader = {
  size: 0,
  read: async () => {
    throw new Error('an unmapped volume has no bytes')
  },
}

/** What one volume holds: a filesystem a reader opens, or why not. */
async function describe(disk: string, id: string, reader: VolumeReader, nested: boolean, open: boolean): Promise<GuestVolume> {
  const v: GuestVolume = { disk, id, size: reader.size, kind: 'raw', reader }
  let kinds: string[]
  try {
    kinds = (await findSignatures(reader)).map(s => s.kind)
  } catch (e) {
    v.reason = reasonOf(e)
    return v
  }
  if (kinds.some(k => TABLE_KINDS.includes(k as never))) {
    v.kind = 'disk'
    v.reason = 'a partitioned disk inside this volume: not followed'
    return v
  }
  if (kinds.includes('lvm2-pv')) {
    v.kind = 'lvm2-pv'
    v.reason = nested ? 'LVM PV inside an LV: not followed' : 'LVM2 PV: its logical volumes are listed on their own'
    return v
  }
  if (open) {
    try {
      const fs = await openGuestFs(reader, `${disk}:${id}`)
      if (fs) {
        v.fs = fs
        v.kind = fs.kind
        if (fs.label) v.label = fs.label
        return v
      }
    } catch (e) {
      if (!(e instanceof VmaError)) throw e
      v.kind = kinds[0] ?? 'raw'
      v.reason = e.message
      return v
    }
  }
  if (kinds.length === 0) {
    v.reason = 'no recognised filesystem'
    return v
  }
  v.kind = kinds.length > 1 ? 'ambiguous' : await nameOf(kinds[0]!, reader)
  v.reason = kinds.length > 1 ? `several signatures (${kinds.join(', ')})` : v.kind.startsWith('swap') ? 'swap space: no files' : `cannot read ${v.kind} yet`
  return v
}

/** The kind as people say it: ext2/ext3/ext4 from the superblock's features, swap for every swap flavour. */
async function nameOf(kind: string, reader: VolumeReader): Promise<string> {
  if (kind === 'ext' && reader.size >= 2048) {
    const raw = Buffer.alloc(1024)
    await reader.read(raw, 1024)
    return extKind(rawFeatures(raw))
  }
  return kind.startsWith('swap') ? 'swap' : kind
}
