// Clusters held in memory while they wait for the writer (a compressed
// input read front to back, its clusters handed over in another order):
// each with data in a 64 KiB buffer from a pool, an all-zero one in none.
// What that costs is what the hold limits, and the disorder meter that
// decides whether they will be kept, count.

import { CLUSTER_SIZE } from '../format/constants.js'

/** The buffer of a cluster without data: it ties up no memory while it waits. */
const NO_DATA = Buffer.alloc(0)

/**
 * What holding a cluster costs: a whole 64 KiB buffer when it has any data
 * (one 4 KiB block pins as much as sixteen), and a map entry even when it
 * has none.
 */
export function heldCost(mask: number): number {
  return 64 + (mask === 0 ? 0 : CLUSTER_SIZE)
}

/** Reused 64 KiB buffers for held clusters: no allocation per cluster once the pool has grown to what is held at once. */
export class ClusterBuffers {
  private readonly pool: Buffer[] = []

  /** A buffer for a cluster with this mask (an empty one for an all-zero cluster). */
  take(mask: number): Buffer {
    return mask === 0 ? NO_DATA : (this.pool.pop() ?? Buffer.allocUnsafe(CLUSTER_SIZE))
  }

  /** Back to the pool, which keeps at most `keep` buffers (the rest go to the garbage collector). */
  give(buf: Buffer, keep = Infinity): void {
    if (buf !== NO_DATA && this.pool.length < keep) this.pool.push(buf)
  }

  /** Lets every pooled buffer go. */
  clear(): void {
    this.pool.length = 0
  }
}
