// A directory data block: what block, leaf and node directories store their
// entries in (the leaf, node and free blocks above the 32 GiB logical offset
// only index them). One directory block may span several filesystem blocks.
// Header, big-endian:
//   v4: 0x00 magic 'XD2B' (block dir) / 'XD2D' (data block)   0x04 bestfree[3] (offset u16, length u16)   = 16 bytes
//   v5: 0x00 magic 'XDB3' / 'XDD3'   0x04 crc (LE)   0x08 blkno (daddr)   0x10 lsn
//       0x18 uuid[16]   0x28 owner (inode, u64)   0x30 bestfree[3]   0x3C pad   = 64 bytes
// Entries, each 8-byte aligned: inumber (u64)   namelen (u8)   name   ftype (u8, with the feature)   tag (u16)
// or unused space: 0xFFFF   length (u16)   ...   tag (u16).
// A block directory ends with its leaf entries (8 bytes each) and a tail:
//   size - 8: count (u32)   size - 4: stale (u32); the entries end before the leaf.

import type { DirEntry } from '../guest-fs.js'
import { xfsCrcOk } from '../../trim/xfs/xfs-bytes.js'
import { check, type Where } from './xfs-damage.js'
import { dirEntry, isDotOrDotDot } from './xfs-dir-entry.js'
import type { XfsVolume } from './xfs-volume.js'

const MAGIC = { XD2B: 0x58443242, XD2D: 0x58443244, XDB3: 0x58444233, XDD3: 0x58444433 }

/** Directory blocks at or past this byte offset are leaf and free-index blocks (XFS_DIR2_LEAF_OFFSET). */
export const DIR_LEAF_OFFSET = 32 * 2 ** 30

/**
 * The entries of one directory data block `b` (the whole directory block)
 * of directory `ino`, read from linear block `lin`; `w` names its volume offset.
 */
export function* dataBlockEntries(x: XfsVolume, ino: number, b: Buffer, lin: number, w: Where): Generator<DirEntry> {
  const magic = b.readUInt32BE(0)
  const block = x.sb.crc ? MAGIC.XDB3 : MAGIC.XD2B
  const data = x.sb.crc ? MAGIC.XDD3 : MAGIC.XD2D
  check(magic === block || magic === data, w, `directory block: bad magic 0x${magic.toString(16)}`)
  let hdr = 16
  if (x.sb.crc) {
    hdr = 64
    check(xfsCrcOk(b, 0, b.length, 4), w, 'directory block: CRC mismatch')
    check(Number(b.readBigUInt64BE(0x08)) === x.daddr(lin), w, 'directory block records another address (misdirected write)')
    check(b.subarray(0x18, 0x28).equals(x.sb.metaUuid), w, 'directory block belongs to another filesystem (UUID)')
    check(Number(b.readBigUInt64BE(0x28)) === ino, w, `directory block is owned by inode ${b.readBigUInt64BE(0x28)}`)
  }
  let end = b.length
  if (magic === block) {
    const count = b.readUInt32BE(b.length - 8)
    check(count <= (b.length - hdr - 8) / 8, w, `block directory: ${count} leaf entries do not fit the block`)
    end = b.length - 8 - count * 8
  }
  let pos = hdr
  while (pos < end) {
    check(pos + 8 <= end, w, `directory block: entry at block byte ${pos} runs into the end of the data (${end})`)
    if (b.readUInt16BE(pos) === 0xffff) {
      const len = b.readUInt16BE(pos + 2)
      check(len >= 8 && len % 8 === 0 && pos + len <= end, w, `directory block: unused space of ${len} bytes at block byte ${pos}`)
      check(b.readUInt16BE(pos + len - 2) === pos, w, `directory block: unused space at block byte ${pos} has a wrong tag`)
      pos += len
      continue
    }
    const namelen = b[pos + 8]!
    const size = Math.ceil((8 + 1 + namelen + (x.ftype ? 1 : 0) + 2) / 8) * 8
    check(namelen > 0 && pos + size <= end, w, `directory block: entry at block byte ${pos} (name of ${namelen} bytes) runs past the data`)
    check(b.readUInt16BE(pos + size - 2) === pos, w, `directory block: entry at block byte ${pos} has a wrong tag`)
    const name = b.subarray(pos + 9, pos + 9 + namelen)
    if (!isDotOrDotDot(name)) {
      const v = b.readBigUInt64BE(pos)
      const e = dirEntry(x, name, v > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(v), x.ftype ? b[pos + 9 + namelen]! : 0, w)
      yield e
    }
    pos += size
  }
}
