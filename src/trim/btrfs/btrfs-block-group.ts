import { u64 } from '../bytes/le.js'
import { need } from '../skip.js'
import { keyNumber, type LeafItem } from './btrfs-key.js'

// btrfs_block_group_item (BLOCK_GROUP_ITEM, key (logical start, 192, length)
// in the extent tree, or in the block group tree with BLOCK_GROUP_TREE):
//   0x00 used u64   0x08 chunk_objectid u64 (256)   0x10 flags u64 (the chunk's type)

export const BLOCK_GROUP_ITEM_SIZE = 0x18

export interface BlockGroupItem {
  start: number
  length: number
  used: number
  flags: number
}

export function parseBlockGroup(leaf: Buffer, item: LeafItem): BlockGroupItem {
  const start = keyNumber(item.key.objectid, 'block group start')
  need(item.size >= BLOCK_GROUP_ITEM_SIZE, `block group item at ${start} too short`)
  const o = item.dataOff
  need(u64(leaf, o + 8) === 256, `block group item at ${start}: chunk objectid is not 256`)
  return { start, length: keyNumber(item.key.offset, 'block group length'), used: u64(leaf, o), flags: u64(leaf, o + 0x10) }
}
