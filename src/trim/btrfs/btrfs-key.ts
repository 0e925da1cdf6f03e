import { u32, u8 } from '../bytes/le.js'
import { need } from '../skip.js'

// btrfs_disk_key (17 bytes): 0x00 objectid u64, 0x08 type u8, 0x09 offset u64.
// Objectids and offsets are full 64-bit values (the root tree uses "negative"
// objectids such as -11 for the free-space cache), so keys stay bigint.
//
// btrfs_item (25 bytes, a leaf's item header): 0x00 key, 0x11 data offset u32
// (from the end of the tree block header), 0x15 data size u32.
// btrfs_key_ptr (33 bytes, a node's child pointer): 0x00 key, 0x11 blockptr
// u64, 0x19 generation u64.

export const KEY_SIZE = 17
export const ITEM_SIZE = 25
export const KEY_PTR_SIZE = 33

/** Item types the trim reads (include/uapi/linux/btrfs_tree.h). */
export const KEY = {
  ROOT_ITEM: 132,
  EXTENT_ITEM: 168,
  METADATA_ITEM: 169,
  BLOCK_GROUP_ITEM: 192,
  FREE_SPACE_INFO: 198,
  FREE_SPACE_EXTENT: 199,
  FREE_SPACE_BITMAP: 200,
  DEV_EXTENT: 204,
  DEV_ITEM: 216,
  CHUNK_ITEM: 228,
  DEV_REPLACE: 250,
}

export interface BtrfsKey {
  objectid: bigint
  type: number
  offset: bigint
}

export function parseKey(b: Buffer, off: number): BtrfsKey {
  need(off >= 0 && off + KEY_SIZE <= b.length, `key at ${off} outside its ${b.length}-byte block`)
  return { objectid: b.readBigUInt64LE(off), type: u8(b, off + 8), offset: b.readBigUInt64LE(off + 9) }
}

/** -1, 0 or 1 as btrfs orders keys: objectid, then type, then offset. */
export function compareKeys(a: BtrfsKey, b: BtrfsKey): number {
  if (a.objectid !== b.objectid) return a.objectid < b.objectid ? -1 : 1
  if (a.type !== b.type) return a.type < b.type ? -1 : 1
  if (a.offset !== b.offset) return a.offset < b.offset ? -1 : 1
  return 0
}

export const keyString = (k: BtrfsKey): string => `(${k.objectid} ${k.type} ${k.offset})`

/** A bigint key field as a byte offset or count; anything past 2^53 cannot be one. */
export function keyNumber(v: bigint, what: string): number {
  need(v <= BigInt(Number.MAX_SAFE_INTEGER), `${what} ${v} too large`)
  return Number(v)
}

/** One item of a leaf: its key and where its data lies inside the tree block. */
export interface LeafItem {
  key: BtrfsKey
  /** Byte offset of the data inside the tree block buffer. */
  dataOff: number
  size: number
}

/** Item header i of a leaf whose header is `headerSize` bytes; data checked to lie inside the block. */
export function parseItem(block: Buffer, headerSize: number, i: number): LeafItem {
  const at = headerSize + i * ITEM_SIZE
  const key = parseKey(block, at)
  const dataOff = headerSize + u32(block, at + 17)
  const size = u32(block, at + 21)
  need(dataOff >= headerSize && dataOff + size <= block.length, `item ${i} ${keyString(key)} data outside its leaf`)
  return { key, dataOff, size }
}
