// Pass 1 and pass 2 in one reading of a compressed input. Decompressing is
// most of what optimize costs on a .vma.zst besides compressing the output,
// so the check's own pass over the input also feeds the writer: the clusters
// of the device being written are handed over as they arrive, and those of
// devices still to come are held in memory, up to a bound. When the bound
// would be passed, the device furthest down the write order stops being
// held (it is "dropped"); once the check's pass has ended, the dropped
// devices are read again per device (StreamClusterReader) or, when that
// would cost more than spooling (read-strategy), from a spool.
//
// vzdump backs up a VM's disks side by side, so the small disks end early
// and the largest disk's clusters come in order to the end: for the usual VM
// (EFI disk, a big disk, a smaller one) the check's pass writes the first
// two and only the smaller disk is read again, 1.5 decompressions in all
// where checking first and then rereading took 2.5.
//
// Every check of pass 1 still runs on every byte (the sinks are the same as
// checkArchive's); an error in it fails the next read and so the write.

import { CLUSTER_SIZE, SLOTS_PER_EXTENT } from '../format/constants.js'
import { ClusterTracker } from '../format/cluster-tracker.js'
import { VmaParser } from '../format/vma-parser.js'
import type { ClusterEntry, VmaSink } from '../format/vma-sink.js'
import type { VmaHeader } from '../format/header.js'
import { ContentDigest } from '../check/content-digest.js'
import { FormCheck } from '../check/form-check.js'
import type { ArchiveInput } from '../input/archive-input.js'
import { ProblemList } from '../util/problem.js'
import { loadHasher } from '../util/hasher.js'
import { VmaError } from '../util/errors.js'
import { ArchiveClusterReader } from '../archive/archive-cluster-reader.js'
import { StreamClusterReader } from '../archive/stream-cluster-reader.js'
import { ClusterBuffers, heldCost } from '../archive/cluster-buffers.js'
import { indexArchive, type CheckedArchive, type IndexedArchive } from '../archive/index-archive.js'
import type { ClusterReader, EmitDevice } from '../archive/emit.js'
import { DisorderMeter } from './disorder-meter.js'
import { RereadCost, rereadAfterCheck } from './read-strategy.js'

/** A cluster waiting for the writer: its mask and stored blocks. */
interface Held {
  mask: number
  buf: Buffer
  len: number
}

/**
 * Free cluster buffers kept when a device is dropped: it can free the whole
 * ahead limit at once, which, kept, would sit beside what the rereading holds.
 */
const POOL_KEEP = 64
/** Bytes held of the devices after the one being written (see arrive). */
const AHEAD_LIMIT = 8 << 20
/** Bytes of the device being written read before the writer asks (see readAhead). */
const READ_AHEAD = 8 << 20
/** Room for one more chunk of the input (a decoder's read is at most 1 MiB; fzstd's output piece about 4 MiB is rare). */
const CHUNK_ROOM = 1 << 20

export interface CheckingReaderOptions {
  /** Opens the input afresh (for rereading or spooling the dropped devices). */
  reopen: () => Promise<ArchiveInput>
  /**
   * Bytes of the device being written that may wait because they came before
   * a lower cluster (as StreamClusterReader's limit); devices after it may
   * hold AHEAD_LIMIT (or this, if less) besides.
   */
  holdLimit: number
  spoolDir: string
  /** Where the rest came from, for VMA_OPT_TRACE. */
  trace?: (what: string) => void
}

export class CheckingReader implements ClusterReader {
  /** One extent's data: a spool's ArchiveClusterReader reads into less room by reading gaps less often. */
  readonly bufferSize = SLOTS_PER_EXTENT * CLUSTER_SIZE
  private readonly parser: VmaParser
  private readonly chunks: AsyncGenerator<Uint8Array>
  private readonly tracker = new ClusterTracker(new ProblemList(true))
  private readonly form = new FormCheck()
  private readonly cost = new RereadCost()
  private readonly meter: DisorderMeter
  /**
   * Devices still to come are held only up to this: enough for the small
   * disks (EFI, TPM state) that end early; a large one would be read again anyway.
   */
  private readonly aheadLimit: number
  private ended = false
  /** Device ids the check's pass still feeds. */
  private readonly live = new Set<number>()
  private readonly held = new Map<number, Map<number, Held>>()
  private readonly heldOf = new Map<number, number>()
  private heldBytes = 0
  private readonly buffers = new ClusterBuffers()
  /** The device being written. */
  private current = -1
  /** The cluster whose data the parser is delivering, if it is to be held. */
  private cur: { dev: number; cluster: number; h: Held } | undefined
  /** The reader of the dropped devices, once the check's pass has ended. */
  private rest?: ClusterReader
  private restStream?: StreamClusterReader
  private restSpool?: { input: ArchiveInput; indexed?: IndexedArchive }
  private failure: unknown
  private closed = false
  /** The pump in flight (settled), which the next one waits for. */
  private inflight: Promise<void> = Promise.resolve()
  private prefetching = false

  private constructor(
    input: ArchiveInput,
    private readonly digest: ContentDigest,
    private readonly o: CheckingReaderOptions,
  ) {
    this.meter = new DisorderMeter(o.holdLimit)
    this.aheadLimit = Math.min(AHEAD_LIMIT, o.holdLimit)
    const router: VmaSink = {
      header: h => {
        for (const d of h.deviceList) {
          this.live.add(d.id)
          this.held.set(d.id, new Map())
          this.heldOf.set(d.id, 0)
        }
        // The writer goes by id (the list is in id order): clusters that come with
        // the header, before its first read, are the first device's or ahead of it.
        this.current = h.deviceList[0]?.id ?? -1
      },
      cluster: e => this.arrive(e),
      data: chunk => {
        const h = this.cur?.h
        if (!h) return
        h.buf.set(chunk, h.len)
        h.len += chunk.length
      },
      // Only a complete cluster is handed over: its data may span several chunks.
      clusterEnd: () => {
        if (this.cur) this.held.get(this.cur.dev)!.set(this.cur.cluster, this.cur.h)
        this.cur = undefined
      },
    }
    // The tracker first: a duplicate or out-of-range cluster fails before it is held.
    this.parser = new VmaParser([this.tracker, this.form, digest, this.cost, this.meter, router])
    this.chunks = input.chunks()
  }

  static async create(input: ArchiveInput, o: CheckingReaderOptions): Promise<CheckingReader> {
    return new CheckingReader(input, new ContentDigest(await loadHasher()), o)
  }

  async read(d: EmitDevice, first: number, n: number, buf: Buffer, masks: Uint16Array, pos: Float64Array): Promise<void> {
    if (d.id !== this.current) this.moveTo(d.id)
    let fill = 0
    for (let i = 0; i < n; i++) {
      const c = first + i
      // A dropped device has no map: what it held went back to the pool.
      let h = this.held.get(d.id)?.get(c)
      while (!h && this.live.has(d.id)) {
        if (this.ended) throw new VmaError('VMA_MISSING_CLUSTER', -1, `cluster ${c} of ${d.name} is not in the archive`, 'archive')
        await this.pump()
        h = this.held.get(d.id)?.get(c)
        // Still missing, with everything below it taken: all it holds came early. Too much, and it is dropped.
        if (!h && (this.heldOf.get(d.id) ?? 0) > this.o.holdLimit) this.drop([d.id])
      }
      if (!h) {
        // Dropped, before or while being written: the rest of this call comes from the rest's reader.
        const rest = await this.restReader(c > 0)
        await rest.read(d, c, n - i, buf.subarray(fill), masks.subarray(i), pos.subarray(i))
        for (let k = i; k < n; k++) pos[k]! += fill
        return
      }
      this.held.get(d.id)!.delete(c)
      this.release(d.id, h)
      h.buf.copy(buf, fill, 0, h.len)
      masks[i] = h.mask
      pos[i] = fill
      fill += h.len
      this.buffers.give(h.buf) // never more than were held at once
    }
    this.readAhead()
  }

  /** The check's reading failed (the root cause, when writing failed meanwhile too). */
  get failed(): unknown {
    return this.failure
  }

  /** Reads the check's pass until the archive header is known. */
  async header(): Promise<VmaHeader> {
    while (!this.parser.header && !this.ended) await this.pump()
    return this.parser.header! // a stream that ends before it fails in parser.end()
  }

  /** Reads the check's pass to its end; what it learned. */
  async checked(): Promise<CheckedArchive> {
    while (!this.ended) await this.pump()
    return { header: this.parser.header!, tracker: this.tracker, digests: this.digest.result(), form: this.form, plainBytes: this.parser.position }
  }

  /** Ends the reading and frees what the rest's reader holds (a spool is removed). Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.inflight // a read ahead in flight ends first
    await this.chunks.return(undefined)
    await this.restStream?.close()
    await this.restSpool?.indexed?.release()
    await this.restSpool?.input.close()
    this.drop([...this.live])
    this.buffers.clear()
  }

  /** One chunk more into the parser; calls queue behind each other (a chunk is valid only until the next is asked for). */
  private pump(): Promise<void> {
    const p = this.inflight.then(() => this.pumpOne())
    this.inflight = p.catch(() => undefined)
    return p
  }

  /**
   * Reads on while the writer builds and writes an extent, up to READ_AHEAD
   * bytes of the device being written: otherwise the decompressor, the
   * writer and the compressor wait for each other through pipes of a few
   * hundred KiB, and the compressor, which sets the pace, goes hungry.
   */
  private readAhead(): void {
    if (this.prefetching) return
    this.prefetching = true
    void (async () => {
      try {
        while (this.worthReadingAhead()) await this.pump()
      } catch {
        // kept in this.failure: the writer's next read reports it
      } finally {
        this.prefetching = false
      }
    })()
  }

  /**
   * Only while the device being written has clusters still to come, and only
   * as long as reading on cannot itself push the devices after it over their
   * limit (one chunk's worth of room): it must never cost them a reading.
   */
  private worthReadingAhead(): boolean {
    if (this.ended || this.failure || this.closed || !this.live.has(this.current)) return false
    const dev = this.tracker.devices[this.current]
    if (!dev || dev.clustersSeen >= dev.clusters) return false
    return (this.heldOf.get(this.current) ?? 0) < READ_AHEAD && this.heldAhead() + CHUNK_ROOM < this.aheadLimit
  }

  private async pumpOne(): Promise<void> {
    if (this.failure) throw this.failure
    // Nothing calls it then; were it to, a loop waiting for the end would spin forever.
    if (this.closed) throw new Error('CheckingReader read after close')
    try {
      const r = await this.chunks.next()
      if (r.done) {
        this.parser.end()
        this.ended = true
      } else this.parser.write(r.value)
    } catch (e) {
      // The parser is left mid-stream: every later read fails the same way.
      this.failure = e
      throw e
    }
  }

  /** The writer went on to device `id`: what is held of earlier devices is of no more use. */
  private moveTo(id: number): void {
    this.current = id
    this.drop([...this.live].filter(d => d < id))
  }

  private arrive(e: ClusterEntry): void {
    this.cur = undefined
    if (!this.live.has(e.devId) || e.devId < this.current) return
    const cost = heldCost(e.mask)
    const h: Held = { mask: e.mask, buf: this.buffers.take(e.mask), len: 0 }
    this.heldOf.set(e.devId, this.heldOf.get(e.devId)! + cost)
    this.heldBytes += cost
    this.cur = { dev: e.devId, cluster: e.cluster, h }
    // (The device being written is bounded in read(), where its order is known.)
    while (this.heldAhead() > this.aheadLimit) {
      let victim = -1
      for (const [id, bytes] of this.heldOf) if (bytes > 0 && id !== this.current && id > victim) victim = id
      this.drop([victim])
    }
  }

  /** What the devices after the one being written hold. */
  private heldAhead(): number {
    return this.heldBytes - (this.heldOf.get(this.current) ?? 0)
  }

  private release(id: number, h: Held): void {
    const cost = heldCost(h.mask)
    this.heldOf.set(id, this.heldOf.get(id)! - cost)
    this.heldBytes -= cost
  }

  /** Stops feeding these devices and frees what they held. */
  private drop(ids: number[]): void {
    for (const id of ids) {
      const m = this.held.get(id)
      if (!m) continue
      for (const h of m.values()) this.buffers.give(h.buf, POOL_KEEP)
      if (this.cur?.dev === id) {
        this.buffers.give(this.cur.h.buf, POOL_KEEP)
        this.cur = undefined
      }
      this.heldBytes -= this.heldOf.get(id)!
      this.held.delete(id)
      this.heldOf.delete(id)
      this.live.delete(id)
    }
  }

  /**
   * The reader of the dropped devices: the check's pass is read to its end
   * first, so that what rereading them costs is measured, not guessed. A
   * device dropped part-way (its own clusters came too far out of order to
   * hold) is spooled: a second reading would bring its first clusters again.
   */
  private async restReader(partWay: boolean): Promise<ClusterReader> {
    if (this.rest) return this.rest
    await this.checked()
    this.buffers.clear() // what the rest's reader holds is its own
    const header = this.parser.header!
    const todo = header.deviceList.filter(d => d.id >= this.current && !this.live.has(d.id))
    const passes = this.cost.passesOf(todo.map(d => d.id))
    if (!partWay && rereadAfterCheck(passes, this.meter.exceeded)) {
      this.o.trace?.(`pass 2 reads the input again for ${todo.map(d => d.name).join(', ')} (${passes.toFixed(1)} passes)`)
      this.rest = this.restStream = new StreamClusterReader(this.o.reopen, this.o.holdLimit)
    } else {
      this.o.trace?.(`pass 2 spools the input for ${todo.map(d => d.name).join(', ')} (rereading would take ${passes.toFixed(1)} passes${this.meter.exceeded ? ', or hold too much' : ''})`)
      this.restSpool = { input: await this.o.reopen() }
      this.restSpool.indexed = await indexArchive(this.restSpool.input, { spoolDir: this.o.spoolDir, form: false })
      this.rest = new ArchiveClusterReader(this.restSpool.indexed.file, this.restSpool.indexed.index)
    }
    return this.rest
  }
}
