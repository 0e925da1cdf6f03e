// The header every dabtree block starts with (attribute leaves and nodes), big-endian:
//   v4 (xfs_da_blkinfo): 0x00 forw (u32: next block of the level)   0x04 back (u32)   0x08 magic (u16)   0x0A pad
//   v5 (xfs_da3_blkinfo): the same, then 0x0C crc (LE, over the block)   0x10 blkno (daddr)   0x18 lsn
//                         0x20 uuid[16]   0x30 owner (inode, u64)
// Blocks are named by their logical block in the fork.

import { xfsCrcOk } from '../../trim/xfs/xfs-bytes.js'
import { check, type Where } from './xfs-damage.js'
import type { XfsVolume } from './xfs-volume.js'

export interface DaInfo {
  forw: number
  back: number
  magic: number
}

/** Checks the header of block `b` (linear block `lin`, fork block `fb` of inode `ino`); `what` names the structure. */
export function daBlkinfo(x: XfsVolume, ino: number, b: Buffer, lin: number, what: string, w: Where): DaInfo {
  const magic = b.readUInt16BE(8)
  if (x.sb.crc) {
    check(xfsCrcOk(b, 0, b.length, 12), w, `${what}: CRC mismatch`)
    check(Number(b.readBigUInt64BE(0x10)) === x.daddr(lin), w, `${what} records another address (misdirected write)`)
    check(b.subarray(0x20, 0x30).equals(x.sb.metaUuid), w, `${what} belongs to another filesystem (UUID)`)
    check(Number(b.readBigUInt64BE(0x30)) === ino, w, `${what} is owned by inode ${b.readBigUInt64BE(0x30)}`)
  }
  return { forw: b.readUInt32BE(0), back: b.readUInt32BE(4), magic }
}
