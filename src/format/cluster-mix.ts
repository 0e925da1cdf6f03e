// One cluster's term of the content digest (spec/optimized-form.md, "The
// proof"): xxh64(u64le(xxh64(content)) || u64le(cluster)). A device's digest
// is the sum of its clusters' terms mod 2^64, so the terms of the clusters a
// delta holds add up to exactly what reading the delta back must give.

import type { XXHashAPI } from 'xxhash-wasm'

export const MOD64 = (1n << 64n) - 1n

export class ClusterMix {
  private readonly mixBuf = Buffer.alloc(16)

  constructor(private readonly xx: XXHashAPI) {}

  /** The term of cluster `cluster` whose full 64 KiB content is buf[at, at + 65536). */
  term(buf: Buffer, at: number, cluster: number): bigint {
    this.mixBuf.writeBigUInt64LE(this.xx.h64Raw(buf.subarray(at, at + 65536)), 0)
    this.mixBuf.writeBigUInt64LE(BigInt(cluster), 8)
    return this.xx.h64Raw(this.mixBuf)
  }
}

export const hex64 = (n: bigint): string => n.toString(16).padStart(16, '0')
