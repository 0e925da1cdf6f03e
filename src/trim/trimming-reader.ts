// The trim's place in the writer: a ClusterReader that hands the optimized-
// form writer each cluster with the bytes the plan declares free set to zero.
// The writer then leaves out every 4 KiB block that became all zero, as it
// does for any zero block, so nothing else about the output changes.
//
// It also computes the digests the read-back proof expects, independently of
// the zeroing: from the input's bytes and the plan's list of free ranges (not
// from the zeroer, not from what the writer emits), so a fault in either the
// zeroer or the writer shows up as a digest mismatch. And it digests the
// input bytes as read here, untrimmed, for comparison with the first pass's
// digests: the expected digests replace those, so without this a spool or
// index fault, or a source changed between the passes, would go unnoticed.

import type { XXHashAPI } from 'xxhash-wasm'
import { CLUSTER_SIZE } from '../format/constants.js'
import { expandCluster, packCluster } from '../format/block-mask.js'
import type { ClusterEntry } from '../format/vma-sink.js'
import type { ClusterReader, EmitDevice } from '../archive/emit.js'
import { ContentDigest, type DeviceDigest } from '../check/content-digest.js'
import type { ClusterZeroer } from './zeroer.js'
import type { Range } from './ranges.js'
import { nonZeroBytes } from './non-zero.js'

export interface DeviceTrim {
  zeroer: ClusterZeroer
  /** The same free space as sorted, merged device ranges (the independent path for the digest). */
  freeRanges: () => Iterable<Range>
}

export class TrimmingClusterReader implements ClusterReader {
  private readonly scratch = Buffer.alloc(CLUSTER_SIZE)
  private readonly check = Buffer.alloc(CLUSTER_SIZE)
  private readonly digest: ContentDigest
  private readonly seen: ContentDigest
  private readonly entry: ClusterEntry = { devId: 0, cluster: 0, mask: 0xffff, dataOffset: 0, extentOffset: 0, slot: 0 }
  private ranges: Iterator<Range> | undefined
  private range: Range | undefined
  private rangeDev = -1
  /** Non-zero input bytes that became zero, per device id (what the trim changed; free bytes already zero are not counted). */
  readonly zeroed: number[] = []

  constructor(
    private readonly inner: ClusterReader,
    private readonly trims: Map<number, DeviceTrim>,
    devices: EmitDevice[],
    xx: XXHashAPI,
  ) {
    this.digest = new ContentDigest(xx)
    this.seen = new ContentDigest(xx)
    for (const d of devices) {
      if (!trims.has(d.id)) continue
      this.digest.addDevice(d.id, d.name, d.size)
      this.seen.addDevice(d.id, d.name, d.size)
    }
  }

  get bufferSize(): number {
    return this.inner.bufferSize
  }

  /** Expected content digests of the trimmed devices (complete once every cluster was read). */
  expected(): DeviceDigest[] {
    return this.digest.result()
  }

  /** Content digests of the trimmed devices' input as this pass read it, before any zeroing. */
  inputDigests(): DeviceDigest[] {
    return this.seen.result()
  }

  async read(d: EmitDevice, first: number, n: number, buf: Buffer, masks: Uint16Array, pos: Float64Array): Promise<void> {
    await this.inner.read(d, first, n, buf, masks, pos)
    const t = this.trims.get(d.id)
    if (!t) return
    if (this.rangeDev !== d.id) {
      this.rangeDev = d.id
      this.ranges = t.freeRanges()[Symbol.iterator]()
      this.range = this.nextRange()
    }
    for (let i = 0; i < n; i++) {
      const c = first + i
      const mask = masks[i]!
      expandCluster(buf, pos[i]!, mask, this.scratch, 0)
      this.feedDigest(this.seen, d.id, c, this.scratch)
      this.check.set(this.scratch)
      this.zeroFromRanges(c * CLUSTER_SIZE)
      this.feedDigest(this.digest, d.id, c, this.check)
      if (mask === 0) continue
      // `check` is the cluster with its free ranges zeroed: what differs from the input is what the trim changes
      if (!this.scratch.equals(this.check)) this.zeroed[d.id] = (this.zeroed[d.id] ?? 0) + nonZeroBytes(this.scratch) - nonZeroBytes(this.check)
      t.zeroer.apply(c * CLUSTER_SIZE, this.scratch)
      // Back into the stored blocks' places; blocks now all zero are dropped by the writer.
      packCluster(this.scratch, 0, mask, buf, pos[i]!)
    }
  }

  private nextRange(): Range | undefined {
    const r = this.ranges!.next()
    return r.done ? undefined : [r.value[0], r.value[1]]
  }

  /** Zeroes in `check` (the cluster at device offset `at`) what the free-range list says. */
  private zeroFromRanges(at: number): void {
    const end = at + CLUSTER_SIZE
    while (this.range && this.range[0] + this.range[1] <= at) this.range = this.nextRange()
    for (let r = this.range; r && r[0] < end; ) {
      const a = Math.max(at, r[0])
      const b = Math.min(end, r[0] + r[1])
      this.check.fill(0, a - at, b - at)
      if (r[0] + r[1] > end) break
      r = this.range = this.nextRange()
    }
  }

  private feedDigest(digest: ContentDigest, devId: number, c: number, content: Buffer): void {
    this.entry.devId = devId
    this.entry.cluster = c
    digest.cluster(this.entry)
    digest.data(content)
    digest.clusterEnd(this.entry)
  }
}
