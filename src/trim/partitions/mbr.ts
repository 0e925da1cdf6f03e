import type { TrimDisk } from '../disk/disk.js'
import type { PartitionTable } from './partition-table.js'

// MBR (sector 0) and the EBR chain of an extended partition. Its LBAs count
// logical sectors: 512 bytes, or 4096 on a 4Kn disk (sector-size-doubt.ts
// decides whether a disk may be one; the VMA does not record it).
// Entry i at 0x1BE + 16*i:
//   +0  u8  status (0x00 or 0x80, anything else: not a partition table)
//   +4  u8  type (0x05/0x0F/0x85 extended, 0xEE GPT protective)
//   +8  u32 first LBA (MBR: absolute; EBR entry 0: relative to the EBR; EBR entry 1: relative to the extended start)
//   +12 u32 number of sectors
// 0x1FE   55 AA

export const SECTOR = 512
const EXTENDED = new Set([0x05, 0x0f, 0x85])
/** Loop and size guard: no real disk has more logical partitions. */
const MAX_LOGICAL = 128

interface RawEntry {
  status: number
  type: number
  lba: number
  count: number
}

function entries(sec: Buffer): RawEntry[] {
  const out: RawEntry[] = []
  for (let i = 0; i < 4; i++) {
    const o = 0x1be + 16 * i
    out.push({ status: sec[o]!, type: sec[o + 4]!, lba: sec.readUInt32LE(o + 8), count: sec.readUInt32LE(o + 12) })
  }
  return out
}

function hasSignature(sec: Buffer): boolean {
  return sec[0x1fe] === 0x55 && sec[0x1ff] === 0xaa
}

/** True when sector 0 looks like a partition table (signature, sane status bytes, some entry). */
export function looksLikeMbr(sec0: Buffer): boolean {
  if (!hasSignature(sec0)) return false
  const es = entries(sec0)
  if (es.some(e => e.type !== 0 && e.status !== 0 && e.status !== 0x80)) return false
  return es.some(e => e.type !== 0 && e.count !== 0)
}

export function isProtectiveMbr(sec0: Buffer): boolean {
  return hasSignature(sec0) && entries(sec0).some(e => e.type === 0xee)
}

const hex = (t: number): string => '0x' + t.toString(16).toUpperCase().padStart(2, '0')

/** Parses the MBR and the EBR chain; undefined when sector 0 is no partition table. */
export async function readMbr(disk: TrimDisk, ss = SECTOR): Promise<PartitionTable | undefined> {
  const sec0 = Buffer.alloc(SECTOR)
  await disk.read(sec0, 0)
  if (!looksLikeMbr(sec0)) return undefined
  const t: PartitionTable = { table: 'mbr', partitions: [], containers: [], rejected: [], protected: [[0, ss]], notes: [] }
  const es = entries(sec0)
  let extendedSeen = false
  for (let i = 0; i < 4; i++) {
    const e = es[i]!
    if (e.type === 0 || e.count === 0) continue
    const id = `p${i + 1}`
    const start = e.lba * ss
    const size = e.count * ss
    if (EXTENDED.has(e.type)) {
      if (extendedSeen) {
        t.rejected.push({ id, start, size, type: hex(e.type), reason: 'second extended partition: not a valid MBR' })
        continue
      }
      extendedSeen = true
      t.containers.push({ id, kind: 'extended', start, size, reason: 'extended partition (EBR chain); EBR sectors and gaps stay untouched' })
      await readEbrChain(disk, e.lba, e.count, t, ss)
      continue
    }
    t.partitions.push({ id, start, size, type: hex(e.type) })
  }
  return t
}

async function readEbrChain(disk: TrimDisk, extLba: number, extCount: number, t: PartitionTable, ss: number): Promise<void> {
  const seen = new Set<number>()
  const sec = Buffer.alloc(SECTOR)
  let ebr = extLba
  let n = 5
  while (ebr !== 0) {
    if (seen.has(ebr) || seen.size >= MAX_LOGICAL) {
      t.notes.push(`EBR chain loops or is too long at LBA ${ebr}: chain stops`)
      return
    }
    seen.add(ebr)
    if (ebr < extLba || ebr >= extLba + extCount || (ebr + 1) * ss > disk.size) {
      t.notes.push(`EBR link to LBA ${ebr} outside the extended partition: chain stops`)
      return
    }
    await disk.read(sec, ebr * ss)
    if (!hasSignature(sec)) {
      t.notes.push(`EBR at LBA ${ebr} has no 55 AA signature: chain stops`)
      return
    }
    t.protected.push([ebr * ss, ss])
    const [logical, link] = entries(sec) as [RawEntry, RawEntry]
    if (logical.type !== 0 && logical.count !== 0) {
      const startLba = ebr + logical.lba
      const id = `p${n++}`
      const start = startLba * ss
      const size = logical.count * ss
      if (logical.lba === 0 || startLba + logical.count > extLba + extCount) {
        t.rejected.push({ id, start, size, type: hex(logical.type), reason: 'logical partition not inside its extended partition' })
      } else if (EXTENDED.has(logical.type)) {
        t.rejected.push({ id, start, size, type: hex(logical.type), reason: 'EBR describes a nested extended partition' })
      } else {
        t.partitions.push({ id, start, size, type: hex(logical.type) })
      }
    }
    ebr = EXTENDED.has(link.type) && link.lba !== 0 ? extLba + link.lba : 0
  }
}
