// Two disks with one LVM2 volume group written by hand in lvm2's on-disk
// format (lvm2's tools need device-mapper and block devices, absent here): a
// striped LV (2 stripes, 64 KiB, first leg on the first disk) holding a real
// ext4 and a raw linear LV; THIN_POOL adds a thin pool with its hidden data and
// metadata LVs (which leaves the whole VG untouched). Shared by the planner's
// tests and the archive-level one.
import { openSync, readSync, writeSync, closeSync } from 'node:fs'
import { lvmCrc } from '../src/trim/bytes/crc32.js'

export const MiB = 1 << 20
export const E = 4 * MiB
export const PE_START = MiB
export const CHUNK = 64 * 1024

export const UUIDS = ['Aaaaaa1111bbbb2222cccc3333dddd44', 'Eeeeee5555ffff6666gggg7777hhhh88']
export const dashed = (u: string): string => `${u.slice(0, 6)}-${u.slice(6, 10)}-${u.slice(10, 14)}-${u.slice(14, 18)}-${u.slice(18, 22)}-${u.slice(22, 26)}-${u.slice(26)}`

const pvLine = (i: number): string =>
  `pv${i} { id = "${dashed(UUIDS[i]!)}" device = "/dev/sd${'ab'[i]}" status = ["ALLOCATABLE"] dev_size = ${64 * 2048} pe_start = ${PE_START / 512} pe_count = 15 }\n`

/** A VG named `name` on the first `pvs` of the two 15-extent PVs (UUIDS) holding the given `logical_volumes` entries. */
export const vgText = (name: string, seqno: number, lvs: string, pvs = 1): string => `${name} {
id = "${name}${name}-0000-0000-0000-0000-0000-${name}${name}"
seqno = ${seqno}
format = "lvm2"
status = ["RESIZEABLE", "READ", "WRITE"]
extent_size = ${E / 512}
physical_volumes {
${[0, 1].slice(0, pvs).map(pvLine).join('')}}
logical_volumes {
${lvs}}
}
`

/** The two-disk VG: the striped LV and the raw one, and `extraLvs`. */
export const vgMetadata = (extraLvs = ''): string =>
  vgText(
    'vgs',
    7,
    `striped { id = "s" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
  segment1 { start_extent = 0 extent_count = 8 type = "striped" stripe_count = 2 stripe_size = ${CHUNK / 512} stripes = ["pv0", 1, "pv1", 0] } }
raw { id = "r" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
  segment1 { start_extent = 0 extent_count = 2 type = "striped" stripe_count = 1 stripes = ["pv1", 10] } }
${extraLvs}`,
    2,
  )

/** A VG named `name` on one 15-extent PV (UUIDS[0]) holding the given `logical_volumes` entries. */
export const onePvVg = (name: string, seqno: number, lvs: string): string => vgText(name, seqno, lvs, 1)

/** A thin pool on pv0 extents 8-9 (data) and pv1 extent 8 (metadata). */
export const THIN_POOL = `pool { id = "p" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
  segment1 { start_extent = 0 extent_count = 2 type = "thin-pool" metadata = "pool_tmeta" pool = "pool_tdata" } }
pool_tdata { id = "d" status = ["READ", "WRITE"] segment_count = 1
  segment1 { start_extent = 0 extent_count = 2 type = "striped" stripe_count = 1 stripes = ["pv0", 8] } }
pool_tmeta { id = "m" status = ["READ", "WRITE"] segment_count = 1
  segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv1", 8] } }
`

/**
 * PV label (sector 1), metadata area header at 4 KiB and the text right after it, as lvm2 writes them;
 * by default this file's VG on a 64 MiB PV at the start of `img`.
 */
export function writePv(img: string, uuid: string, o: { metadata?: string; size?: number; at?: number } = {}): void {
  const head = Buffer.alloc(PE_START)
  const label = head.subarray(512, 1024)
  label.write('LABELONE', 0, 'latin1')
  label.writeBigUInt64LE(1n, 8)
  label.writeUInt32LE(32, 20)
  label.write('LVM2 001', 24, 'latin1')
  label.write(uuid, 32, 'latin1')
  label.writeBigUInt64LE(BigInt(o.size ?? 64 * MiB), 64)
  label.writeBigUInt64LE(BigInt(PE_START), 72) // data area, then (0,0)
  label.writeBigUInt64LE(4096n, 104) // metadata area (offset, size), then (0,0)
  label.writeBigUInt64LE(BigInt(PE_START - 4096), 112)
  label.writeUInt32LE(lvmCrc(label.subarray(20, 512)), 16)
  const text = Buffer.from((o.metadata ?? vgMetadata()) + '\0', 'utf8')
  const mda = head.subarray(4096, 4096 + 512)
  mda.write(' LVM2 x[5A%r0N*>', 4, 'latin1')
  mda.writeUInt32LE(1, 20)
  mda.writeBigUInt64LE(4096n, 24)
  mda.writeBigUInt64LE(BigInt(PE_START - 4096), 32)
  mda.writeBigUInt64LE(512n, 40)
  mda.writeBigUInt64LE(BigInt(text.length), 48)
  mda.writeUInt32LE(lvmCrc(text), 56)
  mda.writeUInt32LE(lvmCrc(mda.subarray(4, 512)), 0)
  text.copy(head, 4096 + 512)
  const fd = openSync(img, 'r+')
  writeSync(fd, head, 0, head.length, o.at ?? 0)
  closeSync(fd)
}

/** Where byte x of the striped LV lives: chunk k goes to stripe k % 2, row k / 2 (lvm2's striped target). */
export function stripeOf(x: number): { disk: number; off: number } {
  const k = Math.floor(x / CHUNK)
  const firstPe = [1, 0][k % 2]!
  return { disk: k % 2, off: PE_START + firstPe * E + Math.floor(k / 2) * CHUNK + (x % CHUNK) }
}

export function scatter(fs: Buffer, disks: string[]): void {
  const fds = disks.map(d => openSync(d, 'r+'))
  for (let x = 0; x < fs.length; x += CHUNK) {
    const s = stripeOf(x)
    writeSync(fds[s.disk]!, fs, x, CHUNK, s.off)
  }
  fds.forEach(closeSync)
}

export function gather(disks: string[], size: number): Buffer {
  const fds = disks.map(d => openSync(d, 'r'))
  const out = Buffer.alloc(size)
  for (let x = 0; x < size; x += CHUNK) {
    const s = stripeOf(x)
    readSync(fds[s.disk]!, out, x, CHUNK, s.off)
  }
  fds.forEach(closeSync)
  return out
}
