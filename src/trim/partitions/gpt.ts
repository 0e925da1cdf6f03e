import type { TrimDisk } from '../disk/disk.js'
import type { PartitionTable, PartitionEntry } from './partition-table.js'
import { crc32Ieee } from '../bytes/crc32.js'

// GPT header (LBA 1; backup at the disk's last LBA), little-endian:
//   0x00 8  "EFI PART"
//   0x0C u32 header size (92..sector)
//   0x10 u32 CRC32 of the header with this field zeroed
//   0x18 u64 this header's LBA      0x20 u64 other header's LBA
//   0x28 u64 first usable LBA       0x30 u64 last usable LBA
//   0x48 u64 entry array LBA        0x50 u32 entries   0x54 u32 entry size   0x58 u32 array CRC32
// Entry: 0x00 type GUID, 0x10 unique GUID, 0x20 first LBA, 0x28 last LBA (inclusive), 0x38 UTF-16LE name.

/** Entry arrays larger than this are not real (128 x 128 bytes is the norm). */
const MAX_ARRAY = 1 << 20

export function guidString(b: Buffer, off: number): string {
  const h = (s: number, e: number): string => b.subarray(off + s, off + e).toString('hex')
  const le = (s: number, n: number): string =>
    Buffer.from(b.subarray(off + s, off + s + n))
      .reverse()
      .toString('hex')
  return `${le(0, 4)}-${le(4, 2)}-${le(6, 2)}-${h(8, 10)}-${h(10, 16)}`.toUpperCase()
}

interface Header {
  firstUsable: number
  lastUsable: number
  entryLba: number
  entries: number
  entrySize: number
  arrayCrc: number
}

async function readHeader(disk: TrimDisk, lba: number, ss: number, notes: string[]): Promise<Header | undefined> {
  if ((lba + 1) * ss > disk.size || lba < 1) return undefined
  const h = Buffer.alloc(ss)
  await disk.read(h, lba * ss)
  if (h.toString('latin1', 0, 8) !== 'EFI PART') return undefined
  const size = h.readUInt32LE(0x0c)
  if (size < 92 || size > ss) {
    notes.push(`GPT header at LBA ${lba}: size ${size} invalid`)
    return undefined
  }
  const copy = Buffer.from(h.subarray(0, size))
  copy.fill(0, 0x10, 0x14)
  if (crc32Ieee(copy) !== h.readUInt32LE(0x10)) {
    notes.push(`GPT header at LBA ${lba}: CRC mismatch`)
    return undefined
  }
  if (Number(h.readBigUInt64LE(0x18)) !== lba) {
    notes.push(`GPT header at LBA ${lba} says it is at LBA ${h.readBigUInt64LE(0x18)}`)
    return undefined
  }
  const r: Header = {
    firstUsable: Number(h.readBigUInt64LE(0x28)),
    lastUsable: Number(h.readBigUInt64LE(0x30)),
    entryLba: Number(h.readBigUInt64LE(0x48)),
    entries: h.readUInt32LE(0x50),
    entrySize: h.readUInt32LE(0x54),
    arrayCrc: h.readUInt32LE(0x58),
  }
  const arrayBytes = r.entries * r.entrySize
  if (r.entrySize < 128 || r.entrySize % 8 !== 0 || arrayBytes > MAX_ARRAY || r.entryLba * ss + arrayBytes > disk.size) {
    notes.push(`GPT header at LBA ${lba}: entry array geometry invalid`)
    return undefined
  }
  if (r.lastUsable < r.firstUsable || (r.lastUsable + 1) * ss > disk.size) {
    notes.push(`GPT header at LBA ${lba}: usable area ${r.firstUsable}-${r.lastUsable} invalid for this disk`)
    return undefined
  }
  return r
}

async function readArray(disk: TrimDisk, hd: Header, ss: number, notes: string[]): Promise<Buffer | undefined> {
  const arr = Buffer.alloc(hd.entries * hd.entrySize)
  await disk.read(arr, hd.entryLba * ss)
  if (crc32Ieee(arr) !== hd.arrayCrc) {
    notes.push(`GPT entry array at LBA ${hd.entryLba}: CRC mismatch`)
    return undefined
  }
  return arr
}

function entriesOf(arr: Buffer, hd: Header, ss: number, t: PartitionTable): void {
  for (let i = 0; i < hd.entries; i++) {
    const o = i * hd.entrySize
    if (arr.subarray(o, o + 16).every(b => b === 0)) continue
    const first = Number(arr.readBigUInt64LE(o + 0x20))
    const last = Number(arr.readBigUInt64LE(o + 0x28))
    const e: PartitionEntry = {
      id: `p${i + 1}`,
      start: first * ss,
      size: (last - first + 1) * ss,
      type: guidString(arr, o),
      name: arr.toString('utf16le', o + 0x38, o + 0x80).replace(/\0.*$/s, ''),
    }
    if (last < first || first < hd.firstUsable || last > hd.lastUsable) {
      t.rejected.push({ ...e, size: Math.max(0, e.size), reason: 'GPT entry outside the usable area' })
    } else t.partitions.push(e)
  }
}

/**
 * The sector sizes whose LBA 1 holds "EFI PART": [512], [4096] for a 4Kn
 * disk, none, or both (a stale header of the other size: a doubt).
 */
export async function gptSectorSizes(disk: TrimDisk): Promise<number[]> {
  const b = Buffer.alloc(8)
  const out: number[] = []
  for (const ss of [512, 4096]) {
    if (disk.size < ss * 2) continue
    await disk.read(b, ss)
    if (b.toString('latin1') === 'EFI PART') out.push(ss)
  }
  return out
}

/**
 * Reads the GPT: the primary header and array, or the backup at the last LBA
 * when the primary is damaged. `partitions` is empty and a note says why when
 * neither copy verifies.
 */
export async function readGpt(disk: TrimDisk, ss: number): Promise<PartitionTable> {
  const t: PartitionTable = { table: 'gpt', partitions: [], containers: [], rejected: [], protected: [[0, ss]], notes: [] }
  const lastLba = Math.floor(disk.size / ss) - 1
  let chosen: { hd: Header; arr: Buffer } | undefined
  for (const lba of [1, lastLba]) {
    const hd = await readHeader(disk, lba, ss, t.notes)
    if (!hd) continue
    t.protected.push([lba * ss, ss], [hd.entryLba * ss, hd.entries * hd.entrySize])
    const arr = await readArray(disk, hd, ss, t.notes)
    if (arr && !chosen) {
      chosen = { hd, arr }
      if (lba !== 1) t.notes.push('primary GPT damaged: using the backup header')
    }
  }
  // The backup array conventionally sits just below the last LBA: keep it even if its header is damaged.
  t.protected.push([Math.max(0, (lastLba - 32) * ss), 33 * ss])
  if (!chosen) {
    t.notes.push('no GPT copy verifies: disk not trimmed')
    return t
  }
  entriesOf(chosen.arr, chosen.hd, ss, t)
  return t
}
