// A shared zero buffer of its own, so this helper depends on nothing above it.
const ZEROS = Buffer.alloc(64 * 1024)

/**
 * True if buf[start, end) is all zeros. A native memcmp against a shared zero
 * buffer: no allocation, no per-byte JavaScript loop.
 */
export function isZero(buf: Buffer, start: number, end: number): boolean {
  while (start < end) {
    const n = Math.min(end - start, ZEROS.length)
    if (buf.compare(ZEROS, 0, n, start, start + n) !== 0) return false
    start += n
  }
  return true
}

/** A Buffer view of any Uint8Array, without copying. */
export function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.length)
}
