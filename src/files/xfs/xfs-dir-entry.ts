// One directory entry as files/guest-fs gives it: the name checked (1..255
// bytes, no '/' or NUL), the inode number inside the filesystem, the type from
// the entry's ftype byte (XFS_DIR3_FT_*) when the filesystem stores one.

import type { DirEntry, FileType } from '../guest-fs.js'
import { check, type Where } from './xfs-damage.js'
import type { XfsVolume } from './xfs-volume.js'

const FT: (FileType | undefined)[] = [undefined, 'file', 'dir', 'chardev', 'blockdev', 'fifo', 'socket', 'symlink']

export function dirEntry(x: XfsVolume, name: Buffer, ino: number, ftype: number, w: Where): DirEntry {
  const shown = name.toString('latin1').slice(0, 40)
  check(name.length >= 1 && name.length <= 255, w, `directory entry name of ${name.length} bytes`)
  check(!name.includes(0) && !name.includes(0x2f), w, `directory entry name "${shown}" contains '/' or NUL`)
  check(x.inoValid(ino), w, `directory entry "${shown}" names inode ${ino} outside the filesystem`)
  check(ftype < FT.length, w, `directory entry "${shown}" has unknown file type ${ftype}`)
  const type = FT[ftype]
  return type ? { name: Buffer.from(name), id: ino, type } : { name: Buffer.from(name), id: ino }
}

/** '.' and '..' (stored as entries in block, leaf and node directories; never given to callers). */
export function isDotOrDotDot(name: Buffer): boolean {
  return (name.length === 1 && name[0] === 0x2e) || (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e)
}
