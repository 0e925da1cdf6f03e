import { u32 } from '../bytes/le.js'
import { need } from '../skip.js'
import { KEY, keyNumber, type LeafItem } from './btrfs-key.js'

// The free-space tree (tree 10, compat_ro FREE_SPACE_TREE): per block group,
//   FREE_SPACE_INFO    key (bg start, 198, bg length): 0x00 extent_count u32, 0x04 flags u32 (1 USING_BITMAPS)
//   FREE_SPACE_EXTENT  key (start, 199, length), no data: a free range
//   FREE_SPACE_BITMAP  key (start, 200, length): one bit per sector of the range, set = free

export const FREE_SPACE_USING_BITMAPS = 1

export type FreeSpaceRecord =
  | { kind: 'info'; start: number; length: number; extentCount: number; bitmaps: boolean }
  | { kind: 'extent'; start: number; length: number }
  | { kind: 'bitmap'; start: number; length: number; bits: Buffer }

export function parseFreeSpace(leaf: Buffer, item: LeafItem, sectorSize: number): FreeSpaceRecord | undefined {
  const t = item.key.type
  if (t !== KEY.FREE_SPACE_INFO && t !== KEY.FREE_SPACE_EXTENT && t !== KEY.FREE_SPACE_BITMAP) return undefined
  const start = keyNumber(item.key.objectid, 'free space start')
  const length = keyNumber(item.key.offset, 'free space length')
  need(length > 0 && start % sectorSize === 0 && length % sectorSize === 0, `free-space item at ${start}: range not sector-aligned`)
  if (t === KEY.FREE_SPACE_INFO) {
    need(item.size >= 8, `free-space info at ${start} too short`)
    const flags = u32(leaf, item.dataOff + 4)
    need((flags & ~FREE_SPACE_USING_BITMAPS) === 0, `free-space info at ${start}: unknown flags 0x${flags.toString(16)}`)
    return { kind: 'info', start, length, extentCount: u32(leaf, item.dataOff), bitmaps: flags !== 0 }
  }
  if (t === KEY.FREE_SPACE_EXTENT) return { kind: 'extent', start, length }
  need(item.size === Math.ceil(length / sectorSize / 8), `free-space bitmap at ${start}: ${item.size} bytes for ${length / sectorSize} sectors`)
  return { kind: 'bitmap', start, length, bits: leaf.subarray(item.dataOff, item.dataOff + item.size) }
}
