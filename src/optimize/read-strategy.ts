// How optimize gets a compressed input's clusters for the write pass: by
// decompressing the input again once per device (no temp space, but a pass
// over the archive per device), or by spooling it once, uncompressed, to a
// temp file and reading that positionally. Chosen by what each costs, in
// units of one decompress-and-parse pass over the whole archive:
//
//   reread: a device's pass stops at its last cluster, so it costs the share
//           of the archive up to there; all devices together cost R passes.
//   spool:  writing the plain archive to disk and reading it back, about one
//           pass (SPOOL_PASSES), plus one more decompression when the check
//           has already read the input as a stream without spooling it.
//
// Before pass 1 only the header is known: R is estimated as if the devices
// were backed up side by side at equal speed (as vzdump does), and when that
// already makes rereading dear the input is spooled during pass 1 itself.
// After a streamed pass 1, R is measured and decides. Either way the choice
// costs at most about 1.3x the better one (see test/read-strategy.test.ts),
// so no archive, however many devices it has, keeps a backup job waiting
// for a pathological time.

import { BLOCK_SIZE } from '../format/constants.js'
import { popcount16 } from '../format/extent-header.js'
import type { VmaHeader } from '../format/header.js'
import type { ClusterEntry, VmaSink } from '../format/vma-sink.js'

/** Spooling (write the plain archive, read it back) costs about one decompression pass. */
export const SPOOL_PASSES = 1

/** Rereading more than this many passes costs more than spooling after a streamed check. */
export const MAX_REREAD_PASSES = 1 + SPOOL_PASSES

/**
 * Estimated passes over the archive that rereading per device takes, from
 * the device sizes alone: side by side at equal speed, a device of size s is
 * done once every device has delivered min(size, s), which is that share of
 * the archive.
 */
export function estimatedRereadPasses(sizes: number[]): number {
  const total = sizes.reduce((a, s) => a + s, 0)
  if (total === 0) return 0
  let passes = 0
  for (const s of sizes) passes += sizes.reduce((a, e) => a + Math.min(e, s), 0) / total
  return passes
}

/** Before pass 1: spool while checking when rereading would clearly cost more. */
export function spoolFromTheStart(h: Pick<VmaHeader, 'deviceList'>): boolean {
  // Decided now, spooling costs SPOOL_PASSES; a streamed check keeps the choice
  // open but makes a later spool cost one more pass. Stream unless the estimate
  // already exceeds what rereading may cost after it.
  return estimatedRereadPasses(h.deviceList.map(d => d.size)) > MAX_REREAD_PASSES
}

/** After a streamed pass 1: reread per device, or spool after all. */
export function rereadAfterCheck(measuredPasses: number, disorderExceeded: boolean): boolean {
  return !disorderExceeded && measuredPasses <= MAX_REREAD_PASSES
}

/**
 * Measures, while pass 1 reads the archive, how far into it each device's
 * last cluster lies: the passes rereading per device would take.
 */
export class RereadCost implements VmaSink {
  private readonly lastEnd = new Map<number, number>()
  private size = 0

  header(h: VmaHeader): void {
    for (const d of h.deviceList) this.lastEnd.set(d.id, 0)
  }

  cluster(e: ClusterEntry): void {
    // A device's pass ends once its last cluster's data has been read.
    if (this.lastEnd.has(e.devId)) this.lastEnd.set(e.devId, e.dataOffset + popcount16(e.mask) * BLOCK_SIZE)
  }

  end(size: number): void {
    this.size = size
  }

  /** Passes over the whole archive that rereading per device takes. */
  passes(): number {
    return this.passesOf([...this.lastEnd.keys()])
  }

  /** The same for some of the devices only. */
  passesOf(ids: number[]): number {
    if (this.size <= 0) return 0
    let sum = 0
    for (const id of ids) sum += Math.min(1, (this.lastEnd.get(id) ?? 0) / this.size)
    return sum
  }
}
