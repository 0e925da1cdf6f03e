// Where each cluster's stored data sits in the (plain) input, and its mask:
// 10 bytes per cluster in typed arrays, never the data itself. Must run
// after a ClusterTracker in fail-fast mode, which rejects unknown devices,
// out-of-range clusters and duplicates before they get here.

import type { VmaHeader } from '../header.js'
import type { ClusterEntry, VmaSink } from '../vma-sink.js'
import { PagedArray } from './paged-array.js'

export class ClusterIndex implements VmaSink {
  private readonly offsets: PagedArray<Float64Array>[] = []
  private readonly masks: PagedArray<Uint16Array>[] = []

  header(h: VmaHeader): void {
    for (const d of h.deviceList) {
      this.offsets[d.id] = new PagedArray(n => new Float64Array(n))
      this.masks[d.id] = new PagedArray(n => new Uint16Array(n))
    }
  }

  cluster(e: ClusterEntry): void {
    this.offsets[e.devId]!.set(e.cluster, e.dataOffset)
    this.masks[e.devId]!.set(e.cluster, e.mask)
  }

  offset(devId: number, cluster: number): number {
    return this.offsets[devId]!.get(cluster)
  }

  mask(devId: number, cluster: number): number {
    return this.masks[devId]!.get(cluster)
  }
}
