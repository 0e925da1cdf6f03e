// A fork's extents as a map from file blocks to volume blocks: lookups by
// binary search for read(), and the runs (stored data, holes, unwritten
// extents) that cover a file from 0 to its size.

import type { FileRun } from '../guest-fs.js'
import type { Extent } from './xfs-bmbt-rec.js'

export class ExtentMap {
  constructor(
    readonly extents: readonly Extent[],
    readonly blockSize: number,
  ) {}

  /** Index of the first extent that ends after file block `fb` (extents.length if none). */
  find(fb: number): number {
    let lo = 0
    let hi = this.extents.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const e = this.extents[mid]!
      if (e.off + e.count <= fb) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** The volume block holding file block `fb`, or -1 for a hole. */
  map(fb: number): number {
    const e = this.extents[this.find(fb)]
    return e && e.off <= fb ? e.block + (fb - e.off) : -1
  }

  /** Runs from 0 to `size` bytes: written extents are data, holes and unwritten extents are not; neighbours of one kind merged. */
  *runs(size: number): Generator<FileRun> {
    let pos = 0
    let cur: FileRun | undefined
    const emit = (offset: number, length: number, data: boolean): FileRun | undefined => {
      if (length <= 0) return undefined
      if (cur && cur.data === data && cur.offset + cur.length === offset) {
        cur.length += length
        return undefined
      }
      const done = cur
      cur = { offset, length, data }
      return done
    }
    for (const e of this.extents) {
      const start = Math.min(e.off * this.blockSize, size)
      const end = Math.min((e.off + e.count) * this.blockSize, size)
      let r = emit(pos, start - pos, false)
      if (r) yield r
      r = emit(start, end - start, !e.unwritten)
      if (r) yield r
      pos = end
      if (pos >= size) break
    }
    const r = emit(pos, size - pos, false)
    if (r) yield r
    if (cur) yield cur
  }
}
