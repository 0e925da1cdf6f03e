// A shortform directory: the entries inside the inode's data fork.
//   0x00 count (u8: entries)   0x01 i8count (u8: nonzero = inode numbers are 8 bytes, else 4)
//   0x02 parent (4 or 8 bytes)   then per entry:
//   namelen (u8)   offset (u16: position in an equivalent block directory)   name[namelen]
//   ftype (u8, with the ftype feature)   inumber (4 or 8 bytes, big-endian)

import type { DirEntry } from '../guest-fs.js'
import { check, type Where } from './xfs-damage.js'
import { dirEntry } from './xfs-dir-entry.js'
import type { XfsVolume } from './xfs-volume.js'

/** The entries of a shortform directory whose fork bytes are `b` (bounded by di_size). */
export function* shortformEntries(x: XfsVolume, b: Buffer, w: Where): Generator<DirEntry> {
  check(b.length >= 6, w, `shortform directory of ${b.length} bytes is shorter than its header`)
  const count = b[0]!
  const inoSize = b[1]! ? 8 : 4
  const hdr = 2 + inoSize
  check(b.length >= hdr, w, 'shortform directory shorter than its header')
  const readIno = (pos: number): number => (inoSize === 8 ? Number(b.readBigUInt64BE(pos)) : b.readUInt32BE(pos))
  const parent = readIno(2)
  check(x.inoValid(parent), w, `shortform directory's parent inode ${parent} lies outside the filesystem`)
  let pos = hdr
  for (let i = 0; i < count; i++) {
    check(pos + 3 <= b.length, w, `shortform directory entry ${i} starts past the directory's ${b.length} bytes`)
    const namelen = b[pos]!
    const nameAt = pos + 3
    const ftAt = nameAt + namelen
    const inoAt = ftAt + (x.ftype ? 1 : 0)
    check(namelen > 0 && inoAt + inoSize <= b.length, w, `shortform directory entry ${i} (name of ${namelen} bytes) runs past the directory's ${b.length} bytes`)
    yield dirEntry(x, b.subarray(nameAt, ftAt), readIno(inoAt), x.ftype ? b[ftAt]! : 0, w)
    pos = inoAt + inoSize
  }
}
