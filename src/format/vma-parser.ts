// A streaming VMA parser written as an explicit state machine. write() takes
// chunks of any size (one byte at a time works) and reports what it finds to
// sinks. Data blocks are handed on as views into the caller's chunk, never
// copied. A driver that can seek may call skipData() instead of feeding the
// data, so headers can be checked without reading the blocks.

import { BLOCK_SIZE, EXTENT_HEADER_SIZE, HEADER_FIXED_SIZE } from './constants.js'
import { VmaError } from '../util/errors.js'
import { ExtentHeader, popcount16 } from './extent-header.js'
import { VmaHeader } from './header.js'
import type { ClusterEntry, VmaSink } from './vma-sink.js'

const enum State {
  /** Collecting the first 60 bytes: magic and header_size. */
  HeaderStart,
  /** Collecting the rest of the header (header_size bytes in all). */
  Header,
  /** At an extent boundary, collecting a 512-byte extent header. */
  ExtentHeader,
  /** Inside the data of the current extent. */
  Data,
  Ended,
  Failed,
}

/** Bytes needed to learn the magic and header_size (field at 56..59). */
const HEADER_START = 60

export class VmaParser {
  private state = State.HeaderStart
  private readonly sinks: VmaSink[]
  /** Bytes consumed so far: the file offset of the next byte. */
  position = 0
  header?: VmaHeader
  private headerBuf = Buffer.alloc(HEADER_START)
  private headerHave = 0
  private readonly extentBuf = Buffer.alloc(EXTENT_HEADER_SIZE)
  private extentHave = 0
  private readonly extent = new ExtentHeader()
  private extentOffset = 0
  extents = 0
  /** Index into the current extent's entries. */
  private entry = 0
  /** Stored bytes of the current entry not yet seen. */
  private entryLeft = 0
  private readonly current: ClusterEntry = { devId: 0, cluster: 0, mask: 0, dataOffset: 0, extentOffset: 0, slot: 0 }

  // The per-cluster calls, looked up once: a 100 GiB archive has 1.6 million
  // clusters, and serve's start-up waits for every one of them.
  private readonly onCluster: ((e: ClusterEntry) => void)[]
  private readonly onClusterEnd: ((e: ClusterEntry) => void)[]

  constructor(sinks: VmaSink | VmaSink[]) {
    this.sinks = Array.isArray(sinks) ? sinks : [sinks]
    this.onCluster = this.sinks.filter(s => s.cluster).map(s => s.cluster!.bind(s))
    this.onClusterEnd = this.sinks.filter(s => s.clusterEnd).map(s => s.clusterEnd!.bind(s))
  }

  get ended(): boolean {
    return this.state === State.Ended
  }

  /** Bytes still needed to complete the archive header (0 once it is read). */
  get headerBytesNeeded(): number {
    if (this.state === State.HeaderStart) return HEADER_START - this.headerHave
    if (this.state === State.Header) return this.headerBuf.length - this.headerHave
    return 0
  }

  /** True while the parser is at an extent boundary (or before the header). */
  get atBoundary(): boolean {
    return this.state === State.ExtentHeader && this.extentHave === 0
  }

  /** Stored data bytes left in the current extent (0 outside data). */
  get dataLeftInExtent(): number {
    if (this.state !== State.Data) return 0
    let left = this.entryLeft
    for (let i = this.entry + 1; i < this.extent.count; i++) left += popcount16(this.extent.masks[i]!) * BLOCK_SIZE
    return left
  }

  write(chunk: Uint8Array): void {
    try {
      this.consume(chunk, chunk.length, true)
    } catch (e) {
      this.state = State.Failed
      throw e
    }
  }

  /** Skips `n` data bytes of the current extent without reading them. */
  skipData(n: number): void {
    if (n > this.dataLeftInExtent) throw new RangeError(`cannot skip ${n} bytes, only ${this.dataLeftInExtent} left in the extent`)
    try {
      this.consume(undefined, n, false)
    } catch (e) {
      this.state = State.Failed
      throw e
    }
  }

  /** The input is complete: anything but a clean extent boundary is an error. */
  end(): void {
    if (this.state === State.Failed) return
    switch (this.state) {
      case State.HeaderStart:
      case State.Header: {
        this.state = State.Failed
        if (this.position === 0) throw new VmaError('VMA_EMPTY', 0, 'the input is empty', 'header')
        VmaHeader.checkMagic(this.headerBuf.subarray(0, this.headerHave))
        const need = this.headerBuf.length > HEADER_START ? this.headerBuf.length : HEADER_FIXED_SIZE
        throw new VmaError('VMA_HEADER_TRUNCATED', this.position, `the input ends after ${this.position} bytes, inside the ${need}-byte header`, 'header')
      }
      case State.ExtentHeader:
        if (this.extentHave > 0) {
          this.state = State.Failed
          throw new VmaError(
            'VMA_TRAILING_BYTES',
            this.extentOffset,
            `${this.extentHave} stray bytes after the last extent (an extent header needs 512)`,
            'end of archive',
          )
        }
        this.state = State.Ended
        for (const s of this.sinks) s.end?.(this.position)
        return
      case State.Data: {
        this.state = State.Failed
        const have = this.position - this.extentOffset
        throw new VmaError(
          'VMA_EXTENT_TRUNCATED',
          this.extentOffset,
          `truncated: the extent needs ${this.extent.size} bytes, only ${have} are present`,
          'extent',
        )
      }
      case State.Ended:
        return
    }
  }

  private consume(chunk: Uint8Array | undefined, len: number, deliver: boolean): void {
    let pos = 0
    while (pos < len) {
      switch (this.state) {
        case State.HeaderStart: {
          const take = Math.min(len - pos, HEADER_START - this.headerHave)
          this.headerBuf.set(chunk!.subarray(pos, pos + take), this.headerHave)
          this.headerHave += take
          pos += take
          this.position += take
          // Fail fast on a wrong magic: random input from a pipe stops here.
          VmaHeader.checkMagic(this.headerBuf.subarray(0, this.headerHave))
          if (this.headerHave === HEADER_START) {
            const size = VmaHeader.headerSizeOf(this.headerBuf)
            const full = Buffer.alloc(size) // bounded by MAX_HEADER_SIZE
            this.headerBuf.copy(full)
            this.headerBuf = full
            this.state = State.Header
          }
          break
        }
        case State.Header: {
          const take = Math.min(len - pos, this.headerBuf.length - this.headerHave)
          this.headerBuf.set(chunk!.subarray(pos, pos + take), this.headerHave)
          this.headerHave += take
          pos += take
          this.position += take
          if (this.headerHave === this.headerBuf.length) {
            this.header = VmaHeader.decode(this.headerBuf)
            for (const s of this.sinks) s.header?.(this.header)
            this.state = State.ExtentHeader
            this.extentHave = 0
            this.extentOffset = this.position
          }
          break
        }
        case State.ExtentHeader: {
          if (!deliver) throw new RangeError('skipData called outside extent data')
          let src: Uint8Array
          let at: number
          if (this.extentHave === 0 && len - pos >= EXTENT_HEADER_SIZE) {
            // The whole header is in this chunk: decode it in place.
            src = chunk!
            at = pos
            pos += EXTENT_HEADER_SIZE
            this.position += EXTENT_HEADER_SIZE
          } else {
            const take = Math.min(len - pos, EXTENT_HEADER_SIZE - this.extentHave)
            this.extentBuf.set(chunk!.subarray(pos, pos + take), this.extentHave)
            this.extentHave += take
            pos += take
            this.position += take
            if (this.extentHave < EXTENT_HEADER_SIZE) break
            src = this.extentBuf
            at = 0
          }
          this.startExtent(src, at)
          break
        }
        case State.Data: {
          const take = Math.min(len - pos, this.entryLeft)
          if (deliver && take > 0) {
            const piece = chunk!.subarray(pos, pos + take)
            for (const s of this.sinks) s.data?.(piece)
          }
          pos += take
          this.position += take
          this.entryLeft -= take
          if (this.entryLeft === 0) this.finishEntry()
          break
        }
        case State.Ended:
        case State.Failed:
          throw new VmaError('VMA_TRAILING_BYTES', this.position, 'data after the end of the archive', 'end of archive')
      }
    }
  }

  private startExtent(src: Uint8Array, at: number): void {
    const offset = this.extentOffset
    this.extent.decode(src, at, offset, this.header!.uuid)
    this.extents++
    this.extentHave = 0
    const raw = src.subarray(at, at + EXTENT_HEADER_SIZE)
    for (const s of this.sinks) s.extent?.(this.extent, offset, raw)
    this.entry = -1
    this.state = State.Data
    this.nextEntry()
  }

  /** Announces the next non-empty entry, finishing zero-data ones at once. */
  private nextEntry(): void {
    for (;;) {
      this.entry++
      if (this.entry >= this.extent.count) {
        this.state = State.ExtentHeader
        this.extentOffset = this.position
        return
      }
      const e = this.current
      e.devId = this.extent.devIds[this.entry]!
      e.cluster = this.extent.clusters[this.entry]!
      e.mask = this.extent.masks[this.entry]!
      e.dataOffset = this.position
      e.extentOffset = this.extentOffset
      e.slot = this.extent.slots[this.entry]!
      this.entryLeft = popcount16(e.mask) * BLOCK_SIZE
      const start = this.onCluster
      for (let i = 0; i < start.length; i++) start[i]!(e)
      if (this.entryLeft > 0) return
      const end = this.onClusterEnd
      for (let i = 0; i < end.length; i++) end[i]!(e)
    }
  }

  private finishEntry(): void {
    const end = this.onClusterEnd
    for (let i = 0; i < end.length; i++) end[i]!(this.current)
    this.nextEntry()
  }
}
