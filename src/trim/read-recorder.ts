import type { TrimDisk } from './disk/disk.js'
import { type Range, mergeRanges } from './ranges.js'

/**
 * Wraps a disk and remembers every byte range the planner read: those bytes
 * are what the decisions rest on. Kept merged so its size follows the number
 * of distinct metadata structures, not the number of reads.
 */
export class RecordingDisk implements TrimDisk {
  private reads: Range[] = []
  readonly name: string
  readonly size: number
  constructor(private inner: TrimDisk) {
    this.name = inner.name
    this.size = inner.size
  }
  async read(buf: Buffer, offset: number): Promise<void> {
    if (offset < 0 || offset + buf.length > this.size) throw new RangeError(`read ${offset}+${buf.length} outside disk ${this.name}`)
    this.reads.push([offset, buf.length])
    if (this.reads.length > 65536) this.reads = mergeRanges(this.reads)
    await this.inner.read(buf, offset)
  }
  recorded(): Range[] {
    this.reads = mergeRanges(this.reads)
    return this.reads
  }
}
