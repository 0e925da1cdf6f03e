import { u16, u64 } from '../bytes/le.js'
import { need, TrimSkip } from '../skip.js'

// btrfs_chunk (CHUNK_ITEM, key (256, 228, logical start); also in the
// superblock's sys_chunk_array): how a range of logical addresses maps to
// device bytes.
//   0x00 length u64        0x08 owner u64           0x10 stripe_len u64
//   0x18 type u64          0x20 io_align u32        0x24 io_width u32
//   0x28 sector_size u32   0x2C num_stripes u16     0x2E sub_stripes u16
//   0x30 stripes[num_stripes], 32 bytes each:
//        0x00 devid u64    0x08 offset u64 (device byte)    0x10 dev_uuid[16]

export const CHUNK_HEADER = 0x30
export const STRIPE_SIZE = 32

/** Block group / chunk type bits. */
export const BG = {
  DATA: 0x1,
  SYSTEM: 0x2,
  METADATA: 0x4,
  RAID0: 0x8,
  RAID1: 0x10,
  DUP: 0x20,
  RAID10: 0x40,
  RAID5: 0x80,
  RAID6: 0x100,
  RAID1C3: 0x200,
  RAID1C4: 0x400,
}
const TYPE_MASK = BG.DATA | BG.SYSTEM | BG.METADATA
const RAID_MASK = BG.RAID0 | BG.RAID1 | BG.RAID10 | BG.RAID5 | BG.RAID6 | BG.RAID1C3 | BG.RAID1C4

export interface Stripe {
  devid: number
  /** Device byte where this copy of the chunk starts. */
  offset: number
}

export interface Chunk {
  logical: number
  length: number
  type: number
  stripes: Stripe[]
  /** The block group item's `used` counter, once read. */
  used?: number
  /** Bytes the extent tree's items cover in this block group, once counted. */
  covered?: number
}

export const chunkEnd = (c: Chunk): number => c.logical + c.length

/** Profile name for reports ('single', 'DUP', 'RAID1'...). */
export function profileName(type: number): string {
  const names: [number, string][] = [
    [BG.RAID0, 'RAID0'],
    [BG.RAID1, 'RAID1'],
    [BG.DUP, 'DUP'],
    [BG.RAID10, 'RAID10'],
    [BG.RAID5, 'RAID5'],
    [BG.RAID6, 'RAID6'],
    [BG.RAID1C3, 'RAID1C3'],
    [BG.RAID1C4, 'RAID1C4'],
  ]
  return names.find(([bit]) => type & bit)?.[1] ?? 'single'
}

export function kindName(type: number): string {
  if ((type & (BG.DATA | BG.METADATA)) === (BG.DATA | BG.METADATA)) return 'mixed'
  return type & BG.DATA ? 'data' : type & BG.METADATA ? 'metadata' : type & BG.SYSTEM ? 'system' : 'unknown'
}

/** Bytes a chunk item at `off` occupies (header and stripes), from its num_stripes. */
export function chunkItemSize(b: Buffer, off: number): number {
  return CHUNK_HEADER + u16(b, off + 0x2c) * STRIPE_SIZE
}

/**
 * Parses a chunk item starting at logical `logical` and checks what the trim
 * relies on: single or DUP profile on this one device, sector-aligned,
 * every stripe inside the device.
 */
export function parseChunk(b: Buffer, off: number, logical: number, o: { sectorSize: number; devid: number; deviceBytes: number }): Chunk {
  const length = u64(b, off)
  const type = u64(b, off + 0x18)
  const numStripes = u16(b, off + 0x2c)
  const where = `chunk at logical ${logical}`
  need(length > 0 && length % o.sectorSize === 0 && logical % o.sectorSize === 0, `${where}: length ${length} or start not sector-aligned`)
  need(Number.isSafeInteger(logical + length), `${where}: end past 2^53`)
  if (type & RAID_MASK) throw new TrimSkip(`${where} uses the ${profileName(type)} profile (only single and DUP are trimmed)`)
  need((type & ~(TYPE_MASK | BG.DUP)) === 0, `${where}: unknown type bits 0x${type.toString(16)}`)
  const kind = type & TYPE_MASK
  need(kind === BG.DATA || kind === BG.METADATA || kind === BG.SYSTEM || kind === (BG.DATA | BG.METADATA), `${where}: invalid type 0x${type.toString(16)}`)
  const want = type & BG.DUP ? 2 : 1
  need(numStripes === want, `${where}: ${numStripes} stripes for the ${profileName(type)} profile`)
  const stripes: Stripe[] = []
  for (let i = 0; i < numStripes; i++) {
    const s = off + CHUNK_HEADER + i * STRIPE_SIZE
    const devid = u64(b, s)
    const offset = u64(b, s + 8)
    need(devid === o.devid, `${where}: stripe ${i} on device ${devid}, not this filesystem's only device ${o.devid}`)
    need(offset % o.sectorSize === 0, `${where}: stripe ${i} not sector-aligned`)
    need(offset + length <= o.deviceBytes, `${where}: stripe ${i} maps to device bytes ${offset}..${offset + length}, past the device's ${o.deviceBytes} bytes`)
    stripes.push({ devid, offset })
  }
  if (stripes.length === 2) {
    const [a, c] = [stripes[0]!, stripes[1]!]
    need(a.offset + length <= c.offset || c.offset + length <= a.offset, `${where}: its two DUP copies overlap on the device`)
  }
  return { logical, length, type, stripes }
}

/** Equal mapping (what the sys_chunk_array and the chunk tree must agree on). */
export const sameChunk = (a: Chunk, b: Chunk): boolean =>
  a.logical === b.logical &&
  a.length === b.length &&
  a.type === b.type &&
  a.stripes.length === b.stripes.length &&
  a.stripes.every((s, i) => s.devid === b.stripes[i]!.devid && s.offset === b.stripes[i]!.offset)

/** Chunks sorted by logical start, non-overlapping; lookups by binary search. */
export class ChunkMap {
  readonly chunks: Chunk[] = []

  /** Appends a chunk; chunks must come in increasing, non-overlapping order. */
  add(c: Chunk): void {
    const last = this.chunks[this.chunks.length - 1]
    need(!last || chunkEnd(last) <= c.logical, () => `chunk at logical ${c.logical} overlaps the chunk at ${last!.logical}`)
    this.chunks.push(c)
  }

  /** The chunk holding logical byte `l`, or undefined. */
  find(l: number): Chunk | undefined {
    let lo = 0
    let hi = this.chunks.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const c = this.chunks[mid]!
      if (l < c.logical) hi = mid - 1
      else if (l >= chunkEnd(c)) lo = mid + 1
      else return c
    }
    return undefined
  }

  /** Whether any chunk holds a byte of logical [a, b). */
  overlaps(a: number, b: number): boolean {
    let lo = 0
    let hi = this.chunks.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (chunkEnd(this.chunks[mid]!) <= a) lo = mid + 1
      else hi = mid
    }
    const c = this.chunks[lo]
    return c !== undefined && c.logical < b
  }

  /** Device byte of logical `l` in the chunk's first copy, checking [l, l+n) lies inside one chunk of an allowed type. */
  map(l: number, n: number, allowed: number, what: string): number {
    const c = this.find(l)
    need(c, `${what} at logical ${l} is in no chunk`)
    need(l + n <= chunkEnd(c), `${what} at logical ${l} crosses the end of its chunk`)
    need((c.type & allowed) !== 0, `${what} at logical ${l} lies in a ${kindName(c.type)} chunk`)
    return c.stripes[0]!.offset + (l - c.logical)
  }
}
