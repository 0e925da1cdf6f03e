// The checks of a DLT2 delta's clusters, learnt from its check sectors while
// its headers are scanned, for readers that fetch clusters by position
// (apply, serve, compare): 8 bytes per cluster the delta holds, in pages
// allocated as clusters appear, like the cluster index beside it.

import type { XXHashAPI } from 'xxhash-wasm'
import { PagedArray } from '../util/paged-array.js'
import { DeltaCheck, damagedCluster } from './delta-check.js'
import type { VmaHeader } from './header.js'
import type { ClusterEntry, VmaSink } from './vma-sink.js'

export class DeltaCheckIndex implements VmaSink {
  /** False for an archive and a DLT1 delta: nothing to check by. */
  checked = false
  private readonly lo: PagedArray<Uint32Array>[] = []
  private readonly hi: PagedArray<Uint32Array>[] = []
  private readonly names: string[] = []
  private readonly check: DeltaCheck

  constructor(xx: XXHashAPI) {
    this.check = new DeltaCheck(xx)
  }

  header(h: VmaHeader): void {
    this.checked = h.delta?.checked ?? false
    if (!this.checked) return
    for (const d of h.deviceList) {
      this.lo[d.id] = new PagedArray(n => new Uint32Array(n))
      this.hi[d.id] = new PagedArray(n => new Uint32Array(n))
      this.names[d.id] = d.name
    }
  }

  cluster(e: ClusterEntry): void {
    if (!e.checked) return
    this.lo[e.devId]!.set(e.cluster, e.checkLo!)
    this.hi[e.devId]!.set(e.cluster, e.checkHi!)
  }

  /**
   * Throws VMA_DELTA_DATA unless `stored` (exactly the stored bytes of
   * cluster `cluster` of device `devId`, read from `dataOffset`) matches its
   * check. A no-op for a delta without checks.
   */
  verify(devId: number, cluster: number, stored: Uint8Array, dataOffset: number): void {
    if (!this.checked) return
    if (!this.check.matches(stored, this.lo[devId]!.get(cluster), this.hi[devId]!.get(cluster))) {
      throw damagedCluster(this.names[devId]!, cluster, dataOffset)
    }
  }
}
