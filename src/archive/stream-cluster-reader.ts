// Reads clusters for the writer straight from a compressed archive without a
// spool: for each device, in id order, the archive is decompressed and parsed
// again from the start and that device's clusters are handed over in
// ascending order. Clusters that arrive early wait in a bounded reorder
// buffer (optimize measured beforehand that it stays small).

import { BLOCK_SIZE, CLUSTER_SIZE, SLOTS_PER_EXTENT } from '../format/constants.js'
import { VmaError } from '../util/errors.js'
import { popcount16 } from '../format/extent-header.js'
import type { ArchiveInput } from '../input/archive-input.js'
import { VmaParser } from '../format/vma-parser.js'
import type { ClusterEntry, VmaSink } from '../format/vma-sink.js'
import type { ClusterReader, EmitDevice } from './emit.js'
import { ClusterBuffers, heldCost } from './cluster-buffers.js'

interface Arrived {
  cluster: number
  mask: number
  buf: Buffer
  len: number
}

export class StreamClusterReader implements ClusterReader {
  readonly bufferSize = SLOTS_PER_EXTENT * CLUSTER_SIZE
  private dev = -1
  private input?: ArchiveInput
  private stream?: AsyncGenerator<Arrived>
  private readonly held = new Map<number, Arrived>()
  private heldBytes = 0
  private readonly buffers = new ClusterBuffers()

  /** `open` opens the archive afresh for each pass; `limit` bounds what may be held. */
  constructor(
    private readonly open: () => Promise<ArchiveInput>,
    private readonly limit: number,
  ) {}

  async read(d: EmitDevice, first: number, n: number, buf: Buffer, masks: Uint16Array, pos: Float64Array): Promise<void> {
    if (d.id !== this.dev) await this.startPass(d.id)
    let fill = 0
    for (let i = 0; i < n; i++) {
      const c = first + i
      let a = this.held.get(c)
      while (!a) {
        const r = await this.stream!.next()
        if (r.done) throw new VmaError('VMA_MISSING_CLUSTER', -1, `cluster ${c} of ${d.name} did not come on the second reading (did the file change?)`, 'archive')
        this.held.set(r.value.cluster, r.value)
        this.heldBytes += heldCost(r.value.mask)
        if (this.heldBytes > this.limit) throw new VmaError('VMA_IO', -1, `more than ${this.limit} bytes of ${d.name} arrived out of order on the second reading (did the file change?)`)
        a = this.held.get(c)
      }
      this.held.delete(c)
      this.heldBytes -= heldCost(a.mask)
      a.buf.copy(buf, fill, 0, a.len)
      masks[i] = a.mask
      pos[i] = fill
      fill += a.len
      this.buffers.give(a.buf)
    }
  }

  private async startPass(devId: number): Promise<void> {
    await this.close()
    this.dev = devId
    this.input = await this.open()
    this.stream = this.clustersOf(this.input, devId)
  }

  /** One device's clusters, in the order the archive holds them, each in a pooled 64 KiB buffer. */
  private async *clustersOf(input: ArchiveInput, devId: number): AsyncGenerator<Arrived> {
    const ready: Arrived[] = []
    let cur: Arrived | undefined
    const sink: VmaSink = {
      cluster: (e: ClusterEntry) => {
        cur = undefined
        if (e.devId !== devId) return
        cur = { cluster: e.cluster, mask: e.mask, buf: this.buffers.take(e.mask), len: 0 }
      },
      data: chunk => {
        if (!cur) return
        cur.buf.set(chunk, cur.len)
        cur.len += chunk.length
      },
      clusterEnd: () => {
        if (!cur) return
        if (cur.len !== popcount16(cur.mask) * BLOCK_SIZE) throw new Error('cluster data incomplete')
        ready.push(cur)
        cur = undefined
      },
    }
    const parser = new VmaParser(sink)
    for await (const chunk of input.chunks()) {
      parser.write(chunk)
      while (ready.length) yield ready.shift()!
    }
    parser.end()
    while (ready.length) yield ready.shift()!
  }

  async close(): Promise<void> {
    await this.stream?.return(undefined)
    await this.input?.close()
    this.stream = undefined
    this.input = undefined
    for (const a of this.held.values()) this.buffers.give(a.buf)
    this.held.clear()
    this.heldBytes = 0
  }
}
