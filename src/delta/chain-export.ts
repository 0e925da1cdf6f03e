// A disk of the newest archive of a chain (BASE and deltas), read at random:
// what `vma-opt serve BASE DELTA...` exports. Each request fetches its
// clusters through the chain's cluster reader (every cluster from the newest
// link that holds it) and cuts the asked bytes out. It has the shape of
// serve's ExportedDevice; the command line joins the two.

import { CLUSTER_SIZE, SLOTS_PER_EXTENT } from '../format/constants.js'
import { clusterCount } from '../format/cluster-tracker.js'
import type { VmaDevice } from '../format/header.js'
import { expandClusters } from '../archive/expand-clusters.js'
import type { EmitDevice } from '../archive/emit.js'
import { ChainClusterReader } from './chain-cluster-reader.js'
import type { ChainLink } from './open-chain.js'

export class ChainDeviceExport {
  readonly name: string
  readonly size: number
  private readonly dev: EmitDevice
  private readonly reader: ChainClusterReader
  private readonly stored: Buffer
  private readonly full = Buffer.allocUnsafe(SLOTS_PER_EXTENT * CLUSTER_SIZE)
  private readonly masks = new Uint16Array(SLOTS_PER_EXTENT)
  private readonly pos = new Float64Array(SLOTS_PER_EXTENT)
  /** The reader and buffers serve one request at a time. */
  private queue: Promise<void> = Promise.resolve()

  /** `newestFirst`: the chain's links, newest first; `dev`: the device as the newest link lists it. */
  constructor(newestFirst: ChainLink[], dev: VmaDevice) {
    this.name = dev.name
    this.size = dev.size
    this.dev = { id: dev.id, name: dev.name, size: dev.size, clusters: clusterCount(dev.size), vmstate: false }
    this.reader = new ChainClusterReader(newestFirst)
    this.stored = Buffer.allocUnsafe(this.reader.bufferSize)
  }

  read(offset: number, buf: Buffer): Promise<void> {
    const run = this.queue.then(() => this.readNow(offset, buf))
    this.queue = run.catch(() => undefined)
    return run
  }

  private async readNow(offset: number, buf: Buffer): Promise<void> {
    const end = offset + buf.length
    for (let first = Math.floor(offset / CLUSTER_SIZE); first * CLUSTER_SIZE < end; ) {
      const n = Math.min(SLOTS_PER_EXTENT, Math.ceil(end / CLUSTER_SIZE) - first, this.dev.clusters - first)
      await this.reader.read(this.dev, first, n, this.stored, this.masks, this.pos)
      expandClusters(this.stored, this.masks, this.pos, n, this.full)
      const from = Math.max(offset, first * CLUSTER_SIZE)
      const to = Math.min(end, (first + n) * CLUSTER_SIZE)
      this.full.copy(buf, from - offset, from - first * CLUSTER_SIZE, to - first * CLUSTER_SIZE)
      first += n
    }
  }

  /** Everything as data: which clusters are zero would need every link's masks; a hole is only a hint. */
  extents(offset: number, length: number): { length: number; zero: boolean }[] {
    return [{ length: Math.max(1, Math.min(length, this.size - offset)), zero: false }]
  }
}
