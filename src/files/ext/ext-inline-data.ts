// Inline data (INCOMPAT_INLINE_DATA, inode flag INLINE_DATA): a small file's
// bytes, or a small directory's entries, live in the inode: the 60 bytes of
// i_block first, then the value of the in-inode attribute system.data.
// An inline directory starts with the parent's inode number (4 bytes) in
// place of '.' and '..'; its entries follow in i_block and in system.data.

import { type ExtPlace, check } from './ext-errors.js'
import type { ExtInode } from './ext-inode.js'
import type { ExtVolume } from './ext-volume.js'
import { INDEX_SYSTEM, inodeXattrs } from './ext-xattr.js'

/** The two parts of the inline bytes: i_block and system.data's value (maybe empty). */
export function inlineParts(v: ExtVolume, ino: ExtInode): [Buffer, Buffer] {
  const data = inodeXattrs(v, ino).find(x => x.index === INDEX_SYSTEM && x.name.toString('latin1') === 'data')
  return [ino.iblock, data?.value ?? Buffer.alloc(0)]
}

/** A file's inline bytes: exactly its size. */
export function inlineFile(v: ExtVolume, ino: ExtInode): Buffer {
  const [head, tail] = inlineParts(v, ino)
  const p: ExtPlace = { kind: v.kind, ino: ino.ino, offset: ino.offset + 0x28 }
  check(ino.size <= head.length + tail.length, p, 'inline data', `holds ${head.length + tail.length} bytes, less than the size ${ino.size}`)
  return Buffer.concat([head, tail]).subarray(0, ino.size)
}
