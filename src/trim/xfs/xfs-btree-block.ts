import { need } from '../skip.js'
import { be16, be32 } from '../bytes/le.js'
import { be64, xfsCrcOk } from './xfs-bytes.js'
import { type XfsSuper, agDaddr } from './xfs-superblock.js'

// Short-form B+tree block header (AG B+trees), big-endian:
//   0x00 bb_magic   0x04 bb_level (u16, 0 = leaf)   0x06 bb_numrecs (u16)
//   0x08 bb_leftsib   0x0C bb_rightsib (0xFFFFFFFF = none)
// v5 (CRC) adds: 0x10 bb_blkno (daddr of this block, u64)   0x18 bb_lsn
//   0x20 bb_uuid[16]   0x30 bb_owner (AG number)   0x34 bb_crc (little-endian, over the whole block)
// Then records (leaf) or keys followed by pointers at header + maxrecs * keysize (node).

export const NULL_AGBLOCK = 0xffffffff

export interface BlockHeader {
  level: number
  numrecs: number
  left: number
  right: number
}

/** Header size of a short-form B+tree block: 16 bytes (v4), 56 (v5). */
export function shortHeaderSize(sb: XfsSuper): number {
  return sb.crc ? 56 : 16
}

/** Checks magic, and on v5 the CRC, self address, UUID and owner of AG block `agbno`; returns the header. */
export function parseBlockHeader(sb: XfsSuper, agno: number, agbno: number, buf: Buffer, magic: number, what: string): BlockHeader {
  const where = `XFS AG ${agno}: ${what} block ${agbno}`
  need(be32(buf, 0x00) === magic, `${where}: bad magic 0x${be32(buf, 0).toString(16)}`)
  if (sb.crc) {
    need(xfsCrcOk(buf, 0, sb.blockSize, 0x34), `${where}: CRC mismatch`)
    need(be64(buf, 0x10) === agDaddr(sb, agno, agbno), `${where}: records another address (misdirected write)`)
    need(buf.subarray(0x20, 0x30).equals(sb.metaUuid), `${where}: belongs to another filesystem (UUID)`)
    need(be32(buf, 0x30) === agno, `${where}: owned by AG ${be32(buf, 0x30)}`)
  }
  return { level: be16(buf, 0x04), numrecs: be16(buf, 0x06), left: be32(buf, 0x08), right: be32(buf, 0x0c) }
}
