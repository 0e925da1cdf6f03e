// The compression of an input is recognised from its first bytes, never from
// its file name: a renamed or piped archive must still be read correctly.

export type Compression = 'none' | 'zstd' | 'gzip' | 'lzop'

export type Detected = Compression | 'bzip2' | 'xz' | 'unknown'

/** How many leading bytes detect() wants to see (and, for zstd, the first frame header up to its window or content size: 18). */
export const DETECT_BYTES = 18

export function detectCompression(b: Uint8Array): Detected {
  const at = (i: number) => (i < b.length ? b[i] : -1)
  if (at(0) === 0x56 && at(1) === 0x4d && at(2) === 0x41 && at(3) === 0x00) return 'none'
  if (at(0) === 0x28 && at(1) === 0xb5 && at(2) === 0x2f && at(3) === 0xfd) return 'zstd'
  // A zstd skippable frame: magic 0x184D2A50..5F, little-endian.
  if ((at(0)! & 0xf0) === 0x50 && at(1) === 0x2a && at(2) === 0x4d && at(3) === 0x18) return 'zstd'
  if (at(0) === 0x1f && at(1) === 0x8b) return 'gzip'
  const lzop = [0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a]
  if (lzop.every((v, i) => at(i) === v)) return 'lzop'
  if (at(0) === 0x42 && at(1) === 0x5a && at(2) === 0x68) return 'bzip2'
  if (at(0) === 0xfd && at(1) === 0x37 && at(2) === 0x7a && at(3) === 0x58) return 'xz'
  return 'unknown'
}
