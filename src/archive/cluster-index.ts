// Where each cluster's stored data sits in the (plain) input, and its mask:
// 10 bytes per cluster in typed arrays, never the data itself. Must run
// after a ClusterTracker in fail-fast mode, which rejects unknown devices,
// out-of-range clusters and duplicates before they get here.

import { clusterCount } from '../format/cluster-tracker.js'
import { EXTENT_HEADER_SIZE, SLOTS_PER_EXTENT } from '../format/constants.js'
import { VmaError } from '../util/errors.js'
import type { VmaHeader } from '../format/header.js'
import type { ClusterEntry, VmaSink } from '../format/vma-sink.js'
import { PagedArray } from '../util/paged-array.js'

export class ClusterIndex implements VmaSink {
  private readonly offsets: PagedArray<Float64Array>[] = []
  private readonly masks: PagedArray<Uint16Array>[] = []

  /**
   * `archiveSize`: the plain archive's length, when known. Every cluster
   * takes at least 8 bytes of blockinfo (59 per 512-byte extent header), so
   * a header that claims more clusters than the file can list is refused
   * before any of the index is built: memory stays proportional to the input.
   */
  constructor(private readonly archiveSize?: number) {}

  header(h: VmaHeader): void {
    if (this.archiveSize !== undefined) {
      const claimed = h.deviceList.filter(d => d.name !== 'vmstate').reduce((a, d) => a + clusterCount(d.size), 0)
      const room = Math.ceil(Math.max(0, this.archiveSize - h.headerSize) / EXTENT_HEADER_SIZE) * SLOTS_PER_EXTENT
      if (claimed > room) {
        throw new VmaError('VMA_MISSING_CLUSTER', -1, `the header claims ${claimed} clusters, but ${this.archiveSize} bytes of archive can list at most ${room}`, 'archive')
      }
    }
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
