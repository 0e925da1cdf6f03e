// Directory entries of ext2/3/4 (a directory block, or the inline area of an
// inline directory):
//   0x0 inode u32 (0: unused)   0x4 rec_len u16 (entry length; 65536 in a 64 KiB block reads as 0 or 65535)
//   0x6 name_len u8             0x7 file_type u8 (with the filetype feature; else name_len is a u16)   0x8 name
// metadata_csum leaf blocks end with a 12-byte fake entry (inode 0, rec_len 12,
// name_len 0, file_type 0xDE) whose last 4 bytes are crc32c(inode seed, block before it).

import type { DirEntry, FileType } from '../guest-fs.js'
import { crc32cRaw } from '../../trim/bytes/crc32c.js'
import { type ExtPlace, check } from './ext-errors.js'

const FT: (FileType | undefined)[] = [undefined, 'file', 'dir', 'chardev', 'blockdev', 'fifo', 'socket', 'symlink']
export const TAIL_SIZE = 12

export interface DirParse {
  filetype: boolean
  /** Names of an encrypted directory are ciphertext: listed in base64url, as bytes may be '/' or NUL. */
  encrypted: boolean
}

/** rec_len as stored (ext4_rec_len_from_disk). */
export function recLen(buf: Buffer, at: number, blockSize: number): number {
  const r = buf.readUInt16LE(at + 4)
  return blockSize >= 65536 && (r === 65535 || r === 0) ? 65536 : r
}

/** Whether `buf` (one directory block) ends with the checksum tail entry. */
export function hasTail(buf: Buffer): boolean {
  const t = buf.length - TAIL_SIZE
  return t >= 0 && buf.readUInt32LE(t) === 0 && buf.readUInt16LE(t + 4) === TAIL_SIZE && buf[t + 6] === 0 && buf[t + 7] === 0xde
}

/** Checks the tail's checksum (the caller knows the block has one). */
export function checkTail(buf: Buffer, seed: number, p: ExtPlace): void {
  const t = buf.length - TAIL_SIZE
  check(crc32cRaw(seed, buf, 0, t) === buf.readUInt32LE(t + 8), p, 'directory block', 'has a bad checksum (metadata_csum)')
}

/**
 * The entries of buf[start, end): every rec_len and name_len bounded by the
 * region; '.', '..' and unused entries left out. `blockSize` decodes rec_len.
 */
export function parseDirEntries(buf: Buffer, start: number, end: number, blockSize: number, how: DirParse, p: ExtPlace, out: DirEntry[]): void {
  for (let o = start; o < end; ) {
    const at: ExtPlace = { ...p, offset: p.offset + o }
    check(o + 8 <= end, at, 'directory entry', `is cut short by the end of its block (${end - o} bytes left)`)
    const ino = buf.readUInt32LE(o)
    const rec = recLen(buf, o, blockSize)
    const nameLen = how.filetype ? buf[o + 6]! : buf.readUInt16LE(o + 6)
    check(rec >= 8 && rec % 4 === 0, at, 'directory entry', `has rec_len ${rec} (less than 8 or not a multiple of 4)`)
    check(o + rec <= end, at, 'directory entry', `has rec_len ${rec}, past the end of its block`)
    if (ino !== 0) {
      check(8 + nameLen <= rec, at, 'directory entry', `has name_len ${nameLen}, longer than its rec_len ${rec}`)
      check(nameLen > 0, at, 'directory entry', 'has an empty name')
      const raw = buf.subarray(o + 8, o + 8 + nameLen)
      const dot = (nameLen === 1 && raw[0] === 0x2e) || (nameLen === 2 && raw[0] === 0x2e && raw[1] === 0x2e)
      if (!dot) {
        let name: Buffer
        if (how.encrypted) name = Buffer.from(raw.toString('base64url'))
        else {
          check(!raw.includes(0x2f) && !raw.includes(0), at, 'directory entry', "has a name containing '/' or NUL")
          name = Buffer.from(raw)
        }
        const type = how.filetype ? FT[buf[o + 7]!] : undefined
        out.push(type ? { name, id: ino, type } : { name, id: ino })
      }
    }
    o += rec
  }
}
