import { TrimSkip } from '../skip.js'

// Little/big-endian field readers that never throw a RangeError: a field read
// past the buffer means a truncated or hostile structure, i.e. a skip.

function check(b: Uint8Array, off: number, n: number): void {
  if (off < 0 || off + n > b.length) throw new TrimSkip(`field at ${off} outside a ${b.length}-byte structure`)
}

export function u8(b: Buffer, off: number): number {
  check(b, off, 1)
  return b[off]!
}
export function u16(b: Buffer, off: number): number {
  check(b, off, 2)
  return b.readUInt16LE(off)
}
export function u32(b: Buffer, off: number): number {
  check(b, off, 4)
  return b.readUInt32LE(off)
}
/** u64 as a number; values beyond 2^53 are not offsets any disk can have. */
export function u64(b: Buffer, off: number): number {
  check(b, off, 8)
  const v = b.readBigUInt64LE(off)
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new TrimSkip(`64-bit field at ${off} too large (${v})`)
  return Number(v)
}
export function be32(b: Buffer, off: number): number {
  check(b, off, 4)
  return b.readUInt32BE(off)
}
export function be16(b: Buffer, off: number): number {
  check(b, off, 2)
  return b.readUInt16BE(off)
}
