import { TrimSkip } from '../skip.js'
import { crc32cRaw } from '../bytes/crc32c.js'

const ZERO4 = new Uint8Array(4)

/** Big-endian u64 as a number; XFS block counts and addresses never pass 2^53 on a real disk. */
export function be64(b: Buffer, off: number): number {
  if (off < 0 || off + 8 > b.length) throw new TrimSkip(`field at ${off} outside a ${b.length}-byte structure`)
  const v = b.readBigUInt64BE(off)
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new TrimSkip(`64-bit field at ${off} too large (${v})`)
  return Number(v)
}

/**
 * XFS metadata checksum: the conventional CRC-32C of `len` bytes from `start`,
 * the 4-byte field at `crcOff` (relative to `start`) counted as zeros, stored
 * little-endian in that field (xfs_start_cksum / xfs_end_cksum).
 */
export function xfsCrc(b: Buffer, start: number, len: number, crcOff: number): number {
  let c = crc32cRaw(0xffffffff, b, start, start + crcOff)
  c = crc32cRaw(c, ZERO4)
  c = crc32cRaw(c, b, start + crcOff + 4, start + len)
  return ~c >>> 0
}

export function xfsCrcOk(b: Buffer, start: number, len: number, crcOff: number): boolean {
  if (start < 0 || start + len > b.length || crcOff + 4 > len) return false
  return xfsCrc(b, start, len, crcOff) === b.readUInt32LE(start + crcOff)
}
