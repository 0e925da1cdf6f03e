// Reads clusters out of an indexed plain archive. Clusters close together in
// the input are read in one call, gaps (other devices' data) and all: a few
// wasted bytes cost less than a system call per cluster.

import { BLOCK_SIZE, CLUSTER_SIZE, SLOTS_PER_EXTENT } from '../format/constants.js'
import { VmaError } from '../util/errors.js'
import { popcount16 } from '../format/extent-header.js'
import type { PositionalFile } from '../input/positional-file.js'
import type { ClusterIndex } from './cluster-index.js'
import type { ClusterReader, EmitDevice } from './emit.js'

/** Largest stretch of unneeded input read to save a separate read. */
const MAX_GAP = 1 << 20

export class ArchiveClusterReader implements ClusterReader {
  /** One extent's data plus room for gaps (a smaller buffer works: gaps are then read less often). */
  readonly bufferSize = SLOTS_PER_EXTENT * CLUSTER_SIZE + 4 * MAX_GAP
  /** Positional reads only: calls may overlap. */
  readonly concurrent = true

  constructor(
    private readonly file: PositionalFile,
    private readonly index: ClusterIndex,
  ) {}

  async read(d: EmitDevice, first: number, n: number, buf: Buffer, masks: Uint16Array, pos: Float64Array): Promise<void> {
    let need = 0
    for (let i = 0; i < n; i++) {
      masks[i] = this.index.mask(d.id, first + i)
      need += popcount16(masks[i]!) * BLOCK_SIZE
    }
    // Gaps may use what the clusters' own data leaves of the buffer, so it never overflows.
    let gapBudget = buf.length - need
    let fill = 0
    let runStart = 0
    let runFile = -1
    let runLen = 0
    const flush = async () => {
      if (runLen === 0) return
      const got = await this.file.read(buf, runStart, runLen, runFile)
      if (got !== runLen) {
        throw new VmaError('VMA_EXTENT_TRUNCATED', runFile + got, 'the input ended while reading cluster data (did it change while being read?)', 'input')
      }
      fill = runStart + runLen
      runLen = 0
    }
    for (let i = 0; i < n; i++) {
      const len = popcount16(masks[i]!) * BLOCK_SIZE
      pos[i] = fill
      if (len === 0) continue
      const off = this.index.offset(d.id, first + i)
      const gap = off - (runFile + runLen)
      if (runLen > 0 && gap >= 0 && gap <= MAX_GAP && gap <= gapBudget) {
        gapBudget -= gap
        pos[i] = runStart + runLen + gap
        runLen += gap + len
      } else {
        await flush()
        runStart = fill
        runFile = off
        runLen = len
        pos[i] = runStart
      }
    }
    await flush()
  }
}
