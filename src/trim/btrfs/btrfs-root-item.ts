import { u64, u8 } from '../bytes/le.js'
import { need } from '../skip.js'
import type { LeafItem } from './btrfs-key.js'

// btrfs_root_item (ROOT_ITEM, key (tree id, 132, 0) in the root tree), the
// fields the trim needs:
//   0x000 inode item (160 bytes)   0x0A0 generation u64   0x0B0 bytenr u64 (root block)
//   0x0EE level u8

export const ROOT_ITEM_MIN = 0xef

export const TREE_ID = { ROOT: 1n, EXTENT: 2n, CHUNK: 3n, DEV: 4n, FREE_SPACE: 10n, BLOCK_GROUP: 11n }

export interface RootItem {
  bytenr: number
  level: number
  generation: number
}

export function parseRootItem(leaf: Buffer, item: LeafItem): RootItem {
  need(item.size >= ROOT_ITEM_MIN, `root item of tree ${item.key.objectid} too short (${item.size} bytes)`)
  const o = item.dataOff
  return { generation: u64(leaf, o + 0xa0), bytenr: u64(leaf, o + 0xb0), level: u8(leaf, o + 0xee) }
}
