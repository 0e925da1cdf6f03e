import { u64 } from '../bytes/le.js'
import { need } from '../skip.js'
import { keyNumber, type LeafItem } from './btrfs-key.js'

// btrfs_dev_extent (DEV_EXTENT, key (devid, 204, device byte) in the dev tree):
// which chunk owns a range of device bytes.
//   0x00 chunk_tree u64 (3)   0x08 chunk_objectid u64 (256)
//   0x10 chunk_offset u64 (the chunk's logical start)   0x18 length u64
//   0x20 chunk_tree_uuid[16]

export const DEV_EXTENT_SIZE = 0x30

export interface DevExtent {
  devid: number
  offset: number
  length: number
  chunk: number
}

export function parseDevExtent(leaf: Buffer, item: LeafItem): DevExtent {
  need(item.size >= DEV_EXTENT_SIZE, `dev extent at device byte ${item.key.offset} too short`)
  const o = item.dataOff
  need(u64(leaf, o) === 3 && u64(leaf, o + 8) === 256, `dev extent at device byte ${item.key.offset} does not point into the chunk tree`)
  return { devid: keyNumber(item.key.objectid, 'devid'), offset: keyNumber(item.key.offset, 'dev extent start'), chunk: u64(leaf, o + 0x10), length: u64(leaf, o + 0x18) }
}
