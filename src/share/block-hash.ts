// A fast 64-bit hash of one 4 KiB block, to find which blocks of an archive
// may equal a block of another. It only proposes candidates: the kernel
// compares the bytes before it shares anything (FIDEDUPERANGE), so a
// collision costs one refused range, never wrong data. Two 32-bit lanes over
// the block's words in plain JS: no allocation per block, no copy into wasm.

/** Words in one 4 KiB block. */
export const BLOCK_WORDS = 1024

export class BlockHasher {
  /** The two halves of the last hash. */
  lo = 0
  hi = 0

  /** Hashes the 1024 words that start at words[at]. */
  hash(words: Int32Array, at: number): void {
    let a = 0x243f6a88
    let b = 0x13198a2e
    for (let i = at, end = at + BLOCK_WORDS; i < end; i++) {
      const w = words[i]!
      a = Math.imul(a ^ w, 0xcc9e2d51)
      a = (a << 15) | (a >>> 17)
      b = Math.imul(b + w, 0x1b873593)
      b ^= b >>> 15
    }
    this.lo = fmix(a ^ b)
    this.hi = fmix(b + Math.imul(a, 5))
  }
}

/** murmur3's finaliser: every input bit reaches every output bit. */
function fmix(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return (h ^ (h >>> 16)) | 0
}
