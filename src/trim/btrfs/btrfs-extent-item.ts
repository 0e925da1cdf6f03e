import { u64 } from '../bytes/le.js'
import { need } from '../skip.js'
import { KEY, keyNumber, type LeafItem } from './btrfs-key.js'

// Extent items in the extent tree, the record that a range of logical bytes
// is in use. Subvolumes, snapshots, reflinks and compressed files all point
// at extents recorded here (a compressed extent's key holds its on-disk size).
//   EXTENT_ITEM    key (logical start, 168, length)
//   METADATA_ITEM  key (logical start, 169, tree level): one tree block, nodesize bytes (skinny metadata)
// btrfs_extent_item: 0x00 refs u64   0x08 generation u64   0x10 flags u64 (1 DATA, 2 TREE_BLOCK)

export const EXTENT_ITEM_MIN = 0x18
export const EXTENT_FLAG = { DATA: 1, TREE_BLOCK: 2 }

export interface ExtentRecord {
  start: number
  length: number
  flags: number
}

/** The range an extent or metadata item records, or undefined for other item types (back references). */
export function parseExtentRecord(leaf: Buffer, item: LeafItem, nodeSize: number): ExtentRecord | undefined {
  if (item.key.type !== KEY.EXTENT_ITEM && item.key.type !== KEY.METADATA_ITEM) return undefined
  const start = keyNumber(item.key.objectid, 'extent start')
  need(item.size >= EXTENT_ITEM_MIN, `extent item at ${start} too short (${item.size} bytes)`)
  const length = item.key.type === KEY.METADATA_ITEM ? nodeSize : keyNumber(item.key.offset, 'extent length')
  need(length > 0, `extent item at ${start} has length 0`)
  const flags = u64(leaf, item.dataOff + 0x10)
  need((flags & 3) === EXTENT_FLAG.DATA || (flags & 3) === EXTENT_FLAG.TREE_BLOCK, `extent item at ${start}: flags 0x${flags.toString(16)}`)
  need(u64(leaf, item.dataOff) > 0, `extent item at ${start} has no references`)
  return { start, length, flags }
}
