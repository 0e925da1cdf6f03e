// How much of a device would have to be held in memory to emit its clusters
// in order while reading the archive front to back: at each point, what the
// clusters that arrived before every lower cluster did cost to hold (heldCost).
// optimize measures this while checking a compressed file, and when it is
// small, writes the output by decompressing the input again once per device
// instead of spooling the whole uncompressed archive to disk.

import { heldCost } from '../archive/cluster-buffers.js'
import type { VmaHeader } from '../format/header.js'
import type { ClusterEntry, VmaSink } from '../format/vma-sink.js'

interface DeviceState {
  next: number
  held: Map<number, number>
  heldBytes: number
}

export class DisorderMeter implements VmaSink {
  /** The most bytes any one device needed held at once. */
  maxHeldBytes = 0
  /** Set when a device needed more than `limit`; measuring stops there. */
  exceeded = false
  private readonly devs: (DeviceState | undefined)[] = []

  constructor(private readonly limit: number) {}

  header(h: VmaHeader): void {
    for (const d of h.deviceList) this.devs[d.id] = { next: 0, held: new Map(), heldBytes: 0 }
  }

  cluster(e: ClusterEntry): void {
    if (this.exceeded) return
    const d = this.devs[e.devId]
    if (!d) return
    // As the readers hold it: a 64 KiB buffer if it has data, a map entry if not.
    const size = heldCost(e.mask)
    d.held.set(e.cluster, size)
    d.heldBytes += size
    if (d.heldBytes > this.maxHeldBytes) this.maxHeldBytes = d.heldBytes
    for (let s = d.held.get(d.next); s !== undefined; s = d.held.get(d.next)) {
      d.held.delete(d.next)
      d.heldBytes -= s
      d.next++
    }
    if (this.maxHeldBytes > this.limit) {
      this.exceeded = true
      this.devs.length = 0 // free the maps: the answer is known
    }
  }
}
