// The clusters of the newest archive of a chain, each fetched from the
// newest link that holds it: a delta holds the clusters listed in it (its
// tracker's bitmap), BASE every cluster of its devices. Runs of clusters from
// the same link are read with that link's positional reader, into one buffer,
// so every cluster is read once, in ascending order within each file: a
// streaming merge whose memory is the links' indexes and bitmaps.

import { BLOCK_SIZE, CLUSTER_SIZE } from '../format/constants.js'
import { clusterCount } from '../format/cluster-tracker.js'
import { popcount16 } from '../format/extent-header.js'
import { VmaError } from '../util/errors.js'
import { ArchiveClusterReader } from '../archive/archive-cluster-reader.js'
import type { ClusterReader, EmitDevice } from '../archive/emit.js'
import type { ChainLink } from './open-chain.js'

interface Hop {
  /** The device's id in this link. */
  id: number
  /** Clusters of the device in this link. */
  clusters: number
  /** The least size the device had from this link up to the newest: bytes past it are not content. */
  clip: number
  isDelta: boolean
}

export class ChainClusterReader implements ClusterReader {
  readonly bufferSize: number
  private readonly readers: ArchiveClusterReader[]
  private routeOf = -1
  private route: Hop[] = []
  private readonly source = new Int16Array(64)

  /** `links`: newest first, BASE last. */
  constructor(private readonly links: ChainLink[]) {
    this.readers = links.map(l => new ArchiveClusterReader(l.indexed.file, l.indexed.index))
    this.bufferSize = this.readers[0]!.bufferSize
  }

  /** Where device `d` (by name) can come from, newest first; a link without it ends the search. */
  private routeFor(d: EmitDevice): Hop[] {
    if (this.routeOf === d.id) return this.route
    const hops: Hop[] = []
    let clip = d.size
    for (const l of this.links) {
      const dev = l.indexed.header.deviceList.find(x => x.name === d.name)
      if (!dev) break
      clip = Math.min(clip, dev.size)
      hops.push({ id: dev.id, clusters: clusterCount(dev.size), clip, isDelta: !!l.identities })
    }
    this.routeOf = d.id
    this.route = hops
    return hops
  }

  private sourceOf(d: EmitDevice, hops: Hop[], c: number): number {
    for (let s = 0; s < hops.length; s++) {
      const h = hops[s]!
      if (h.isDelta ? this.links[s]!.indexed.tracker.has(h.id, c) : c < h.clusters) return s
    }
    // The newest delta lists the disk with this cluster, and no link holds it.
    const e = new VmaError('VMA_DELTA_CHAIN', -1, `cluster ${c} of ${d.name} is in none of the chain's archives (${this.links.map(l => l.label).join(', ')}): a delta is damaged or was cut`)
    e.file = this.links[0]!.label
    throw e
  }

  /**
   * Every cluster taken from a DLT2 delta is checked against its check
   * sector before it is used (a damaged one is VMA_DELTA_DATA, naming the
   * delta); a DLT1 delta has no checks (its chain is proven whole instead).
   */
  private verify(s: number, id: number, first: number, n: number, buf: Buffer, masks: Uint16Array, pos: Float64Array): void {
    const link = this.links[s]!
    const checks = link.indexed.checks
    if (!checks.checked) return
    for (let i = 0; i < n; i++) {
      const at = pos[i]!
      try {
        checks.verify(id, first + i, buf.subarray(at, at + popcount16(masks[i]!) * BLOCK_SIZE), link.indexed.index.offset(id, first + i))
      } catch (e) {
        if (e instanceof VmaError) e.file ??= link.label
        throw e
      }
    }
  }

  async read(d: EmitDevice, first: number, n: number, buf: Buffer, masks: Uint16Array, pos: Float64Array): Promise<void> {
    const hops = this.routeFor(d)
    let need = 0
    for (let i = 0; i < n; i++) {
      const s = this.sourceOf(d, hops, first + i)
      this.source[i] = s
      masks[i] = this.links[s]!.indexed.index.mask(hops[s]!.id, first + i)
      need += popcount16(masks[i]!) * BLOCK_SIZE
    }
    let fill = 0
    for (let a = 0; a < n; ) {
      const s = this.source[a]!
      let b = a + 1
      while (b < n && this.source[b] === s) b++
      let runNeed = 0
      for (let i = a; i < b; i++) runNeed += popcount16(masks[i]!) * BLOCK_SIZE
      need -= runNeed
      // What later runs need stays free; this run may use the rest for gaps.
      const view = buf.subarray(fill, buf.length - need)
      await this.readers[s]!.read({ ...d, id: hops[s]!.id }, first + a, b - a, view, masks.subarray(a, b), pos.subarray(a, b))
      if (hops[s]!.isDelta) this.verify(s, hops[s]!.id, first + a, b - a, view, masks.subarray(a, b), pos.subarray(a, b))
      let end = fill
      for (let i = a; i < b; i++) {
        pos[i] = pos[i]! + fill
        end = Math.max(end, pos[i]! + popcount16(masks[i]!) * BLOCK_SIZE)
        if (hops[s]!.clip < d.size) clipCluster(buf, masks[i]!, pos[i]!, hops[s]!.clip - (first + i) * CLUSTER_SIZE)
      }
      fill = end
      a = b
    }
  }
}

/** Zeros the stored bytes of a cluster that lie at or past `inside` bytes into it. */
function clipCluster(buf: Buffer, mask: number, at: number, inside: number): void {
  if (inside >= CLUSTER_SIZE) return
  let p = at
  for (let j = 0; j < 16; j++) {
    if (!(mask & (1 << j))) continue
    const start = j * BLOCK_SIZE
    if (start + BLOCK_SIZE > inside) buf.fill(0, p + Math.max(0, inside - start), p + BLOCK_SIZE)
    p += BLOCK_SIZE
  }
}
