// lzop stamps the current time into its file header even when compressing a
// pipe, so the same archive compressed twice differs. We zero that time and
// fix the header checksum, which makes .vma.lzo output deterministic too.
// Header layout: magic(9) version(2) lib_version(2) [version_needed(2)]
// method(1) [level(1)] flags(4) [filter(4)] mode(4) mtime_low(4)
// [mtime_high(4)] name_len(1) name checksum(4); the bracketed fields exist
// from version 0x0940 on, the filter with flag 0x800. The checksum covers the
// header after the magic: Adler-32, or CRC-32 with flag 0x1000.

import * as zlib from 'node:zlib'

// zlib.crc32 exists from Node 20.15 on; without it a CRC-32 header is left as it is.
const crc32 = (zlib as { crc32?: (b: Uint8Array) => number }).crc32

const MAGIC = Buffer.from([0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a])

export function adler32(b: Uint8Array): number {
  let a = 1
  let s = 0
  for (let i = 0; i < b.length; i++) {
    a = (a + b[i]!) % 65521
    s = (s + a) % 65521
  }
  return ((s << 16) | a) >>> 0
}

/**
 * Zeroes the mtime in an lzop header (in place) and recomputes its checksum.
 * Returns false, changing nothing, if `h` does not start with a header it
 * understands.
 */
export function zeroLzopTime(h: Buffer): boolean {
  if (h.length < 9 || !h.subarray(0, 9).equals(MAGIC)) return false
  let p = 9
  const need = (n: number) => p + n <= h.length
  if (!need(4)) return false
  const version = h.readUInt16BE(p)
  p += 4 // version, lib_version
  if (version >= 0x0940) p += 2 // version_needed
  p += 1 // method
  if (version >= 0x0940) p += 1 // level
  if (!need(4)) return false
  const flags = h.readUInt32BE(p)
  p += 4
  if (flags & 0x800) p += 4 // filter
  p += 4 // mode
  if (!need(8)) return false
  const timeAt = p // mtime_low, then mtime_high from 0x0940 on
  p += version >= 0x0940 ? 8 : 4
  if (!need(1)) return false
  p += 1 + h[p]! // name
  if (!need(4)) return false
  if (flags & 0x1000 && !crc32) return false
  h.writeUInt32BE(0, timeAt)
  if (version >= 0x0940) h.writeUInt32BE(0, timeAt + 4)
  const body = h.subarray(9, p)
  h.writeUInt32BE(flags & 0x1000 ? crc32!(body) >>> 0 : adler32(body), p)
  return true
}
