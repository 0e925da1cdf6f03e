// Checks the stored data of a DLT2 delta as a stream goes by (verify --data,
// info of a compressed delta, the read-back of diff's output): each
// cluster's stored bytes are gathered in one reused 64 KiB buffer, or
// checked in place when they come in one piece, and must match the check
// sector. Inert for an archive and a DLT1 delta.

import type { XXHashAPI } from 'xxhash-wasm'
import { BLOCK_SIZE, CLUSTER_SIZE } from './constants.js'
import { DeltaCheck, damagedCluster } from './delta-check.js'
import { popcount16 } from './extent-header.js'
import type { VmaHeader } from './header.js'
import type { ClusterEntry, VmaSink } from './vma-sink.js'

export class DeltaDataCheck implements VmaSink {
  private active = false
  private readonly names: string[] = []
  private readonly assembly = Buffer.allocUnsafe(CLUSTER_SIZE)
  /** Stored bytes of the current cluster: expected, and gathered so far. */
  private need = 0
  private got = 0
  /** Its data came in one piece and has been checked in place. */
  private checkedInPlace = false
  private entry: ClusterEntry | undefined
  private readonly check: DeltaCheck

  constructor(xx: XXHashAPI) {
    this.check = new DeltaCheck(xx)
  }

  header(h: VmaHeader): void {
    this.active = h.delta?.checked ?? false
    for (const d of h.deviceList) this.names[d.id] = d.name
  }

  cluster(e: ClusterEntry): void {
    this.entry = e
    this.need = popcount16(e.mask) * BLOCK_SIZE
    this.got = 0
    this.checkedInPlace = false
  }

  data(chunk: Uint8Array): void {
    if (!this.active) return
    if (this.got === 0 && chunk.length === this.need) {
      this.verify(this.entry!, chunk)
      this.checkedInPlace = true
      return
    }
    // Never more than the mask's blocks (the parser delivers exactly those): at most 64 KiB.
    this.assembly.set(chunk, this.got)
    this.got += chunk.length
  }

  clusterEnd(e: ClusterEntry): void {
    // A scan of the headers alone skips the data: nothing to check then.
    if (this.active && !this.checkedInPlace && this.got === this.need) this.verify(e, this.assembly.subarray(0, this.got))
  }

  private verify(e: ClusterEntry, stored: Uint8Array): void {
    if (!this.check.matches(stored, e.checkLo!, e.checkHi!)) throw damagedCluster(this.names[e.devId] ?? `device ${e.devId}`, e.cluster, e.dataOffset)
  }
}
