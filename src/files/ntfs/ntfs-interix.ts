// Interix (Services for Unix) special files, which ntfs-3g writes for the
// POSIX file types NTFS has no attribute for: a file with the SYSTEM
// attribute whose unnamed $DATA is empty (a FIFO), one byte (a socket), or
// starts with a magic: `IntxLNK\1` then the symlink's UTF-16LE target,
// `IntxCHR\0` / `IntxBLK\0` then the device's major and minor (u64 each).
// ntfs-3g's own rules (HIDDEN files are never FIFOs or sockets) are followed,
// so a volume reads as ntfs-3g shows it.

import type { FileType } from '../guest-fs.js'

const FILE_ATTR_SYSTEM = 0x0004
const FILE_ATTR_HIDDEN = 0x0002
const MAGIC_LEN = 8
/** PATH_MAX UTF-16 units after the magic: ntfs-3g's bound for a symlink. */
export const INTERIX_MAX = MAGIC_LEN + 2 * 4096
const DEVICE_LEN = 24

export interface InterixFile {
  type: FileType
  /** A symlink's target (UTF-16LE). */
  target?: Buffer
  rdev?: { major: number; minor: number }
}

/** The special file a SYSTEM file's unnamed $DATA (`data`, at most INTERIX_MAX bytes) makes, or undefined for a plain file. */
export function readInterix(data: Buffer, fileAttributes: number): InterixFile | undefined {
  if ((fileAttributes & FILE_ATTR_SYSTEM) === 0) return undefined
  if ((fileAttributes & FILE_ATTR_HIDDEN) === 0 && data.length <= 1) return { type: data.length === 0 ? 'fifo' : 'socket' }
  if (data.length <= MAGIC_LEN) return undefined
  const magic = data.toString('latin1', 0, MAGIC_LEN)
  if (magic === 'IntxLNK\x01') return { type: 'symlink', target: data.subarray(MAGIC_LEN, MAGIC_LEN + ((data.length - MAGIC_LEN) & ~1)) }
  if ((magic === 'IntxCHR\0' || magic === 'IntxBLK\0') && data.length === DEVICE_LEN) {
    // ntfs-3g hands these to makedev(); larger values do not fit a Linux device number either.
    const major = Number(data.readBigUInt64LE(8) & 0xfffffn)
    const minor = Number(data.readBigUInt64LE(16) & 0xfffffn)
    return { type: magic === 'IntxCHR\0' ? 'chardev' : 'blockdev', rdev: { major, minor } }
  }
  return undefined
}
