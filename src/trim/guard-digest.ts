// The second half of the trim's proof: every metadata byte the trim decisions
// rested on (partition tables, superblocks, descriptors, bitmaps, journal,
// LVM metadata, swap header: the guarded ranges the planner read) must be
// byte-identical in the output. Planning reads nothing else, so identical
// guarded bytes also mean the output declares exactly the same free space.
//
// One sha256 per device over its guarded ranges in ascending order: computed
// from the input through random reads (guardDigest), and from the output as
// it streams past in the read-back pass (GuardSink), which works for any
// output compression.

import { createHash, type Hash } from 'node:crypto'
import { CLUSTER_SIZE } from '../format/constants.js'
import { ClusterAssembly } from '../format/block-mask.js'
import type { VmaHeader } from '../format/header.js'
import type { ClusterEntry, VmaSink } from '../format/vma-sink.js'
import type { TrimDisk } from './disk/disk.js'
import { hashRange } from './guard.js'
import type { Range } from './ranges.js'

/** sha256 over the merged ranges of a disk, read in bounded steps. */
export async function guardDigest(disk: TrimDisk, merged: Range[]): Promise<string> {
  const h = createHash('sha256')
  for (const [o, l] of merged) await hashRange(disk, o, l, h)
  return h.digest('hex')
}

/** Hashes the guarded bytes of each named device as the archive streams past (clusters in ascending order). */
export class GuardSink implements VmaSink {
  private readonly byId: { ranges: Range[]; hash: Hash; next: number; lastCluster: number }[] = []
  private readonly assembly = new ClusterAssembly()
  private current: (typeof this.byId)[number] | undefined
  private outOfOrder = ''

  constructor(private readonly guarded: Map<string, Range[]>) {}

  header(h: VmaHeader): void {
    for (const d of h.deviceList) {
      const ranges = this.guarded.get(d.name)
      if (ranges) this.byId[d.id] = { ranges, hash: createHash('sha256'), next: 0, lastCluster: -1 }
    }
  }

  cluster(e: ClusterEntry): void {
    const g = this.byId[e.devId]
    this.current = undefined
    if (!g) return
    if (e.cluster <= g.lastCluster) this.outOfOrder ||= `cluster ${e.cluster} came after ${g.lastCluster}`
    g.lastCluster = e.cluster
    const start = e.cluster * CLUSTER_SIZE
    const r = g.ranges[g.next]
    if (!r || r[0] >= start + CLUSTER_SIZE) return // no guarded byte here: nothing to assemble
    this.current = g
    this.assembly.start(e.mask)
  }

  data(chunk: Uint8Array): void {
    if (!this.current) return
    this.assembly.add(chunk)
  }

  clusterEnd(e: ClusterEntry): void {
    const g = this.current
    if (!g) return
    const start = e.cluster * CLUSTER_SIZE
    const end = start + CLUSTER_SIZE
    while (g.next < g.ranges.length) {
      const [o, l] = g.ranges[g.next]!
      if (o >= end) break
      const a = Math.max(o, start)
      const b = Math.min(o + l, end)
      if (b > a) g.hash.update(this.assembly.buf.subarray(a - start, b - start))
      if (o + l > end) break
      g.next++
    }
    this.current = undefined
  }

  /** Per device name, the digest of its guarded bytes (every range must have been passed). */
  result(names: Map<number, string>): Map<string, string> {
    if (this.outOfOrder) throw new Error(`guarded metadata could not be checked: ${this.outOfOrder}`)
    const out = new Map<string, string>()
    this.byId.forEach((g, id) => {
      if (g) out.set(names.get(id)!, g.next === g.ranges.length ? g.hash.digest('hex') : 'incomplete')
    })
    return out
  }
}
