// A cluster's 16-bit block mask says which of its 4 KiB blocks are stored:
// bit j set means block j follows in the extent's data, in ascending order,
// and a clear bit is a block of zeros (vma-format.md, "Extent header"). These
// are the ways the code walks a mask, each loop once, here.

import { isZero } from '../util/zero.js'
import { BLOCK_SIZE, CLUSTER_SIZE } from './constants.js'

/** Index (0..15) of the n-th set bit of a block mask; a RangeError past the last one (more data than the mask allows). */
export function nthSetBit(mask: number, n: number): number {
  for (let j = 0; j < 16; j++) {
    if (mask & (1 << j)) {
      if (n === 0) return j
      n--
    }
  }
  throw new RangeError('more data than the mask allows')
}

/**
 * Copies one cluster's stored blocks (`mask`'s set bits, packed from
 * stored[at]) to their places in out[outAt .. outAt + 64 KiB], zeros where
 * a block is absent. Returns the stored bytes consumed.
 */
export function expandCluster(stored: Buffer, at: number, mask: number, out: Buffer, outAt: number): number {
  if (mask === 0xffff) {
    stored.copy(out, outAt, at, at + CLUSTER_SIZE)
    return CLUSTER_SIZE
  }
  out.fill(0, outAt, outAt + CLUSTER_SIZE)
  let p = at
  for (let j = 0; j < 16; j++) {
    if (!(mask & (1 << j))) continue
    stored.copy(out, outAt + j * BLOCK_SIZE, p, p + BLOCK_SIZE)
    p += BLOCK_SIZE
  }
  return p - at
}

/** The reverse of expandCluster: the blocks `mask` keeps of the full cluster at full[fullAt], packed back to stored[at]. */
export function packCluster(full: Buffer, fullAt: number, mask: number, stored: Buffer, at: number): void {
  let p = at
  for (let j = 0; j < 16; j++) {
    if (!(mask & (1 << j))) continue
    full.copy(stored, p, fullAt + j * BLOCK_SIZE, fullAt + (j + 1) * BLOCK_SIZE)
    p += BLOCK_SIZE
  }
}

/**
 * The optimized form's choice: the non-zero blocks of the full cluster at
 * full[fullAt], packed to out[outAt]. Returns their mask (popcount16 of it
 * says how many bytes were written).
 */
export function packNonZeroBlocks(full: Buffer, fullAt: number, out: Buffer, outAt: number): number {
  let mask = 0
  let o = outAt
  for (let j = 0; j < 16; j++) {
    const b = fullAt + j * BLOCK_SIZE
    if (isZero(full, b, b + BLOCK_SIZE)) continue
    full.copy(out, o, b, b + BLOCK_SIZE)
    o += BLOCK_SIZE
    mask |= 1 << j
  }
  return mask
}

/**
 * One cluster put together from its stored blocks as a parser delivers them,
 * in chunks cut anywhere: `buf` holds the cluster's 64 KiB, absent blocks zero.
 */
export class ClusterAssembly {
  readonly buf = Buffer.alloc(CLUSTER_SIZE)
  private mask = 0
  private got = 0

  /** A new cluster: zeros, and its mask. */
  start(mask: number): void {
    this.mask = mask
    this.got = 0
    this.buf.fill(0)
  }

  /** The next bytes of the cluster's stored blocks. */
  add(chunk: Uint8Array): void {
    for (let pos = 0; pos < chunk.length; ) {
      const within = this.got % BLOCK_SIZE
      const block = nthSetBit(this.mask, Math.floor(this.got / BLOCK_SIZE))
      const take = Math.min(chunk.length - pos, BLOCK_SIZE - within)
      this.buf.set(chunk.subarray(pos, pos + take), block * BLOCK_SIZE + within)
      pos += take
      this.got += take
    }
  }
}
