// A remote symlink: the target in the blocks of an extents-format fork. On
// v5 each block starts with a header (xfs_dsymlink_hdr), big-endian:
//   0x00 sl_magic 'XSLM'   0x04 sl_offset (target byte this block starts at)   0x08 sl_bytes
//   0x0C sl_crc (LE, over the whole block)   0x10 sl_uuid[16]   0x20 sl_owner (inode, u64)
//   0x28 sl_blkno (daddr)   0x30 sl_lsn   = 56 bytes; v4 blocks hold the target alone.

import { xfsCrcOk } from '../../trim/xfs/xfs-bytes.js'
import { check } from './xfs-damage.js'
import type { ExtentMap } from './xfs-extent-map.js'
import type { XfsVolume } from './xfs-volume.js'

const SYMLINK_MAGIC = 0x58534c4d
/** XFS_SYMLINK_MAXLEN */
export const SYMLINK_MAXLEN = 1024

/** The `size` target bytes of symlink `ino` stored in the blocks `map` gives. */
export async function remoteSymlink(x: XfsVolume, ino: number, at: number, map: ExtentMap, size: number): Promise<Buffer> {
  check(size > 0 && size <= SYMLINK_MAXLEN, x.where(ino, at), `symlink target of ${size} bytes (at most ${SYMLINK_MAXLEN})`)
  const bs = x.sb.blockSize
  const hdr = x.sb.crc ? 56 : 0
  const out = Buffer.alloc(size)
  const b = Buffer.alloc(bs)
  let done = 0
  for (let fb = 0; done < size; fb++) {
    const lin = map.map(fb)
    check(lin >= 0, x.where(ino, at), `symlink block ${fb} is a hole`)
    const w = x.where(ino, lin * bs)
    await x.read(b, lin * bs)
    const want = Math.min(size - done, bs - hdr)
    if (x.sb.crc) {
      check(b.readUInt32BE(0) === SYMLINK_MAGIC, w, `symlink block ${fb}: bad magic 0x${b.readUInt32BE(0).toString(16)}`)
      const bytes = b.readUInt32BE(8)
      check(b.readUInt32BE(4) === done && bytes === want, w, `symlink block ${fb} holds bytes ${b.readUInt32BE(4)}+${bytes}, expected ${done}+${want}`)
      check(xfsCrcOk(b, 0, bs, 12), w, `symlink block ${fb}: CRC mismatch`)
      check(b.subarray(0x10, 0x20).equals(x.sb.metaUuid), w, `symlink block ${fb} belongs to another filesystem (UUID)`)
      check(Number(b.readBigUInt64BE(0x20)) === ino, w, `symlink block ${fb} is owned by inode ${b.readBigUInt64BE(0x20)}`)
      check(Number(b.readBigUInt64BE(0x28)) === x.daddr(lin), w, `symlink block ${fb} records another address (misdirected write)`)
    }
    b.copy(out, done, hdr, hdr + want)
    done += want
  }
  return out
}
