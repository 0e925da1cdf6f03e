// A streaming VMA parser written as an explicit state machine. write() takes
// chunks of any size (one byte at a time works) and reports what it finds to
// sinks. Data blocks are handed on as views into the caller's chunk, never
// copied. A driver that can seek may call skipData() instead of feeding the
// data, so headers can be checked without reading the blocks.

import { BLOCK_SIZE, CHECK_SECTOR_SIZE, EXTENT_HEADER_SIZE, HEADER_FIXED_SIZE, SLOTS_PER_EXTENT } from './constants.js'
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
  /** After an extent header of a DLT2 delta, collecting its 512-byte check sector. */
  Checks,
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
  /** A DLT2 delta: each extent header is followed by a check sector. */
  private checked = false
  private readonly checkBuf = Buffer.alloc(CHECK_SECTOR_SIZE)
  private checkHave = 0
  private readonly slotUsed = new Uint8Array(SLOTS_PER_EXTENT)
  extents = 0
  /** Index into the current extent's entries. */
  private entry = 0
  /** Stored bytes of the current entry not yet seen. */
  private entryLeft = 0
  private readonly current: ClusterEntry = { devId: 0, cluster: 0, mask: 0, dataOffset: 0, extentOffset: 0, slot: 0, checked: false, checkLo: 0, checkHi: 0 }

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

  /** Bytes of the current extent's check sector still needed (a DLT2 delta; 0 otherwise). */
  get checkBytesNeeded(): number {
    return this.state === State.Checks ? CHECK_SECTOR_SIZE - this.checkHave : 0
  }

  /** The bytes between one extent's start and its data: 512, or 1024 in a DLT2 delta. */
  get extentHeadSize(): number {
    return EXTENT_HEADER_SIZE + (this.checked ? CHECK_SECTOR_SIZE : 0)
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
          throw new VmaError('VMA_TRAILING_BYTES', this.extentOffset, `${this.extentHave} stray bytes after the last extent (an extent header needs 512)`, 'end of archive')
        }
        this.state = State.Ended
        for (const s of this.sinks) s.end?.(this.position)
        return
      case State.Checks:
      case State.Data: {
        this.state = State.Failed
        const have = this.position - this.extentOffset
        throw new VmaError(
          'VMA_EXTENT_TRUNCATED',
          this.extentOffset,
          `truncated: the extent needs ${this.extent.size + (this.checked ? CHECK_SECTOR_SIZE : 0)} bytes, only ${have} are present`,
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
            this.checked = this.header.delta?.checked ?? false
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
        case State.Checks: {
          if (!deliver) throw new RangeError('skipData called inside a check sector')
          const take = Math.min(len - pos, CHECK_SECTOR_SIZE - this.checkHave)
          this.checkBuf.set(chunk!.subarray(pos, pos + take), this.checkHave)
          this.checkHave += take
          pos += take
          this.position += take
          if (this.checkHave === CHECK_SECTOR_SIZE) this.startChecks()
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
    if (this.checked) {
      this.checkHave = 0
      this.state = State.Checks
      return
    }
    this.entry = -1
    this.state = State.Data
    this.nextEntry()
  }

  /** A DLT2 check sector is complete: its unused bytes must be zero, then the extent's entries follow. */
  private startChecks(): void {
    const b = this.checkBuf
    const at = this.extentOffset + EXTENT_HEADER_SIZE
    // What no entry uses (empty slots, the tail) is zero: anything else is damage.
    const used = this.slotUsed.fill(0)
    for (let i = 0; i < this.extent.count; i++) used[this.extent.slots[i]!] = 1
    for (let i = 0; i < CHECK_SECTOR_SIZE; i++) {
      if (b[i] !== 0 && !(i < SLOTS_PER_EXTENT * 8 && used[i >> 3])) {
        throw new VmaError('VMA_EXTENT_RESERVED', at + i, `byte ${i} of the check sector is ${b[i]}, but no entry uses it (must be 0)`, 'check sector')
      }
    }
    for (const s of this.sinks) s.checks?.(b, this.extentOffset)
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
      e.checked = this.checked
      if (this.checked) {
        e.checkLo = this.checkBuf.readUInt32LE(e.slot * 8)
        e.checkHi = this.checkBuf.readUInt32LE(e.slot * 8 + 4)
      }
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
