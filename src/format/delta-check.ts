// The check of one stored cluster of a DLT2 delta (spec/delta-format.md,
// "Check sector"): the xxh64 (seed 0) of exactly its stored bytes, kept as
// two 32-bit halves so that holding and comparing it allocates nothing but
// the hash itself.

import type { XXHashAPI } from 'xxhash-wasm'
import { VmaError } from '../util/errors.js'

export class DeltaCheck {
  private readonly view = new DataView(new ArrayBuffer(8))

  constructor(private readonly xx: XXHashAPI) {}

  /** Whether `stored` (a cluster's stored bytes, nothing more) hashes to the check lo/hi. */
  matches(stored: Uint8Array, lo: number, hi: number): boolean {
    this.view.setBigUint64(0, this.xx.h64Raw(stored), true)
    return this.view.getUint32(0, true) === lo && this.view.getUint32(4, true) === hi
  }
}

/** The error for a cluster whose stored bytes differ from its check: the delta is damaged (exit 1). */
export function damagedCluster(device: string, cluster: number, dataOffset: number): VmaError {
  return new VmaError('VMA_DELTA_DATA', dataOffset, `cluster ${cluster} of ${device}: the stored data does not match its check (the delta is damaged; nothing of it is used)`, 'data')
}
