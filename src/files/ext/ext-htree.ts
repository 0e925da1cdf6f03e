// Hashed (htree, dir_index) directories: block 0 is the dx root, some other
// blocks are dx nodes; the entries live in leaf blocks, which are ordinary
// directory blocks. Listing reads every block in logical order and takes the
// leaves; the root contributes only '.' and '..' (whose rec_len covers the
// index), a node nothing (one fake entry of inode 0 spanning the block).
//   dx root: '.' (12 bytes), '..' (rec_len blocksize - 12), then at 0x18 dx_root_info:
//            0x18 reserved_zero u32, 0x1C hash_version u8, 0x1D info_length u8 (8),
//            0x1E indirect_levels u8, 0x1F unused_flags u8; dx entries (limit, count, block...) from 0x20
//   dx node: inode 0, rec_len blocksize, name_len 0; dx entries from 0x08

import { type ExtPlace, check } from './ext-errors.js'
import { recLen } from './ext-dir-block.js'

/** What block `logical` of a directory is: an index block to skip or a leaf to list. */
export function dxKind(buf: Buffer, logical: number, indexed: boolean, largedir: boolean, p: ExtPlace): 'root' | 'node' | 'leaf' {
  if (!indexed) return 'leaf'
  if (logical === 0) {
    check(buf.readUInt32LE(0x18) === 0 && buf[0x1d] === 8, p, 'htree root', 'has a bad dx_root_info (reserved field not 0 or info_length not 8)')
    const levels = buf[0x1e]!
    check(levels < (largedir ? 3 : 2), p, 'htree root', `has ${levels + 1} index levels, more than ${largedir ? 3 : 2}`)
    return 'root'
  }
  return buf.readUInt32LE(0) === 0 && recLen(buf, 0, buf.length) === buf.length && buf[6] === 0 ? 'node' : 'leaf'
}
