// LZNT1, the compression of NTFS compressed files. A compression unit (16
// clusters) is stored as a series of chunks, each the compressed form of 4 KiB
// of the unit: a 2-byte header (bits 0-11: chunk bytes after the header minus
// 1; bits 12-14: 3; bit 15: compressed), then either the 4 KiB as is, or
// groups of a flag byte and 8 tokens (bit clear: a literal byte; bit set: a
// 16-bit back reference whose split between offset and length widens as the
// chunk's output grows). A header of 0 ends the unit early; what a chunk or
// the unit does not produce reads as zeros. Every read and every copy is
// bounded by the input and the output, so damaged input stops with a reason.

import { ensure } from '../../trim/ntfs/ntfs-skip.js'

const CHUNK = 4096

/**
 * Decompresses `src` (the unit's stored clusters) into all of `dst` (the
 * unit's size), zero-filling what the chunks do not produce. Throws NtfsSkip
 * naming the chunk when the data is damaged.
 */
export function lznt1Decompress(src: Buffer, dst: Buffer, what: string): void {
  let s = 0
  let d = 0
  while (d < dst.length && s + 2 <= src.length) {
    const header = src.readUInt16LE(s)
    if (header === 0) break
    const chunk = d / CHUNK
    const size = (header & 0x0fff) + 1
    const start = s + 2
    const end = start + size
    ensure(end <= src.length, () => `${what}: LZNT1 chunk ${chunk} (${size} bytes) runs past its compression unit`)
    ensure(((header >> 12) & 7) === 3, () => `${what}: LZNT1 chunk ${chunk} has a bad signature in header 0x${header.toString(16)}`)
    const outEnd = Math.min(d + CHUNK, dst.length)
    if ((header & 0x8000) === 0) {
      ensure(size === CHUNK && d + size <= dst.length, () => `${what}: LZNT1 chunk ${chunk} is stored with ${size} bytes, not ${CHUNK}`)
      src.copy(dst, d, start, end)
      d += size
    } else {
      d = decompressChunk(src, start, end, dst, d, outEnd, `${what}: LZNT1 chunk ${chunk}`)
      dst.fill(0, d, outEnd)
      d = outEnd
    }
    s = end
  }
  dst.fill(0, d)
}

function decompressChunk(src: Buffer, s: number, end: number, dst: Buffer, d: number, outEnd: number, chunk: string): number {
  const base = d
  while (s < end) {
    const flags = src[s++]!
    for (let bit = 0; bit < 8 && s < end; bit++) {
      if ((flags & (1 << bit)) === 0) {
        ensure(d < outEnd, () => `${chunk} produces more than ${CHUNK} bytes`)
        dst[d++] = src[s++]!
        continue
      }
      ensure(s + 2 <= end, () => `${chunk}: back reference cut off`)
      const token = src.readUInt16LE(s)
      s += 2
      // The offset takes as many bits as the output so far needs (at least 4), the length the rest of 16.
      let offsetBits = 4
      for (let p = d - base - 1; p >= 0x10; p >>= 1) offsetBits++
      const lengthBits = 16 - offsetBits
      const length = (token & ((1 << lengthBits) - 1)) + 3
      const offset = (token >> lengthBits) + 1
      ensure(d - base >= offset, () => `${chunk}: back reference ${offset} bytes before the chunk's start`)
      ensure(d + length <= outEnd, () => `${chunk} produces more than ${CHUNK} bytes`)
      // Byte by byte: the source may overlap what is being written (a run).
      for (let i = 0; i < length; i++, d++) dst[d] = dst[d - offset]!
    }
  }
  return d
}
