// One exported disk. The NBD session only sees the ExportedDevice interface:
// its size, random-access reads, and which ranges read as zeros. Today the
// one implementation reads a device of an indexed archive in place; a
// trimmed view (`serve --trim`: freed blocks read as zeros) or a delta chain
// (`serve BASE DELTA...`: each cluster from the newest archive that has it)
// is another class implementing the same interface, wrapping this one or an
// index of its own: the protocol code does not change.

import { BLOCK_SIZE, CLUSTER_SIZE } from '../format/constants.js'
import type { VmaDevice } from '../format/header.js'
import type { PositionalFile } from '../input/positional-file.js'
import type { ClusterIndex } from '../archive/cluster-index.js'
import { VmaError } from '../util/errors.js'

/** A run of bytes that read as zeros (`zero`) or may hold data. */
export interface Extent {
  length: number
  zero: boolean
}

export interface ExportedDevice {
  readonly name: string
  /** Exact size in bytes. */
  readonly size: number
  /**
   * Fills `buf` with the bytes at `offset` .. `offset + buf.length`, which
   * the caller keeps inside the device. Zero ranges cost no I/O.
   */
  read(offset: number, buf: Buffer): Promise<void>
  /**
   * The zero and data runs from `offset` on, adjacent runs of one kind
   * merged, together covering at least one byte and at most `length` bytes;
   * at most `maxExtents` of them. Answers from memory, without I/O.
   */
  extents(offset: number, length: number, maxExtents: number): Extent[]
}

/** Positional reads in flight per request (libuv runs 4 at a time anyway). */
const PARALLEL_READS = 4

/** A device of an indexed archive, read in place from the plain file or spool. */
export class ArchiveDeviceExport implements ExportedDevice {
  readonly name: string
  readonly size: number
  private readonly id: number

  constructor(
    dev: VmaDevice,
    private readonly file: PositionalFile,
    private readonly index: ClusterIndex,
  ) {
    this.name = dev.name
    this.size = dev.size
    this.id = dev.id
  }

  async read(offset: number, buf: Buffer): Promise<void> {
    const end = offset + buf.length
    // Byte runs to read: [file position, buffer position, length].
    const runs: [number, number, number][] = []
    let zeroFrom = 0
    for (let c = Math.floor(offset / CLUSTER_SIZE); c * CLUSTER_SIZE < end; c++) {
      const mask = this.index.mask(this.id, c)
      if (mask === 0) continue
      const base = this.index.offset(this.id, c)
      let stored = 0
      for (let j = 0; j < 16; j++) {
        if (!(mask & (1 << j))) continue
        const blockStart = c * CLUSTER_SIZE + j * BLOCK_SIZE
        const from = Math.max(blockStart, offset)
        const to = Math.min(blockStart + BLOCK_SIZE, end)
        if (from < to) {
          const filePos = base + stored * BLOCK_SIZE + (from - blockStart)
          const bufPos = from - offset
          const last = runs[runs.length - 1]
          if (last && last[0] + last[2] === filePos && last[1] + last[2] === bufPos) last[2] += to - from
          else runs.push([filePos, bufPos, to - from])
        }
        stored++
      }
    }
    // Everything between runs reads as zeros.
    for (const [, at, len] of runs) {
      buf.fill(0, zeroFrom, at)
      zeroFrom = at + len
    }
    buf.fill(0, zeroFrom)
    for (let i = 0; i < runs.length; i += PARALLEL_READS) {
      await Promise.all(runs.slice(i, i + PARALLEL_READS).map(r => this.readRun(buf, r)))
    }
  }

  private async readRun(buf: Buffer, [filePos, at, len]: [number, number, number]): Promise<void> {
    const got = await this.file.read(buf, at, len, filePos)
    if (got !== len) {
      throw new VmaError('VMA_EXTENT_TRUNCATED', filePos + got, 'the archive ended while reading cluster data (did it change after it was checked?)', 'input')
    }
  }

  extents(offset: number, length: number, maxExtents: number): Extent[] {
    const end = Math.min(this.size, offset + length)
    const out: Extent[] = []
    const add = (from: number, to: number, zero: boolean): boolean => {
      const last = out[out.length - 1]
      if (last && last.zero === zero) last.length += to - from
      else {
        if (out.length === maxExtents) return false
        out.push({ length: to - from, zero })
      }
      return true
    }
    for (let c = Math.floor(offset / CLUSTER_SIZE); c * CLUSTER_SIZE < end; c++) {
      const mask = this.index.mask(this.id, c)
      const cStart = c * CLUSTER_SIZE
      if (mask === 0 || mask === 0xffff) {
        if (!add(Math.max(cStart, offset), Math.min(cStart + CLUSTER_SIZE, end), mask === 0)) break
        continue
      }
      for (let j = 0; j < 16; j++) {
        const b = cStart + j * BLOCK_SIZE
        const from = Math.max(b, offset),
          to = Math.min(b + BLOCK_SIZE, end)
        if (from < to && !add(from, to, !(mask & (1 << j)))) return out
      }
    }
    return out
  }
}
