// The checks Proxmox's reader does per blockinfo entry and the ones it
// misses: unknown device ids, clusters and mask bits beyond the device end,
// duplicates, vmstate order, and (at the end) clusters never seen. Also
// counts what each device holds and whether the order is sorted.

import { BLOCK_SIZE, CLUSTER_SIZE } from './constants.js'
import { VmaError } from '../util/errors.js'
import { ExtentHeader, popcount16 } from './extent-header.js'
import type { VmaHeader } from './header.js'
import { deviceNameWarning, unsafeNameReason } from './names.js'
import type { ProblemList } from '../util/problem.js'
import { SparseBitset } from '../util/sparse-bitset.js'
import type { ClusterEntry, VmaSink } from './vma-sink.js'

export interface DeviceStats {
  id: number
  name: string
  size: number
  /** Clusters the device has: ceil(size / 64 KiB). */
  clusters: number
  /** Distinct clusters seen in the archive. */
  clustersSeen: number
  /** 4 KiB blocks stored (mask bits set). */
  storedBlocks: number
  /** Clusters listed with mask 0 (all zero). */
  zeroClusters: number
  vmstate: boolean
}

export function clusterCount(size: number): number {
  return Math.ceil(size / CLUSTER_SIZE)
}

/** Mask of the blocks of `cluster` that start before the device end. */
export function validMask(size: number, cluster: number): number {
  const start = cluster * CLUSTER_SIZE
  if (start >= size) return 0
  const blocks = Math.ceil(Math.min(CLUSTER_SIZE, size - start) / BLOCK_SIZE)
  return blocks >= 16 ? 0xffff : (1 << blocks) - 1
}

/**
 * Mask of the blocks of `cluster` that Proxmox's reader can restore: it
 * writes whole 512-byte sectors up to floor(size / 512), so a block (or a
 * full-mask cluster) that starts in a size's last, partial sector is "written
 * beyond end" for it. Equal to validMask when the size is a multiple of 512,
 * as every QEMU disk's is.
 */
export function restorableMask(size: number, cluster: number): number {
  return validMask(Math.floor(size / 512) * 512, cluster)
}

export class ClusterTracker implements VmaSink {
  readonly devices: (DeviceStats | undefined)[] = []
  private readonly seen: (SparseBitset | undefined)[] = []
  private readonly vmstateNext: number[] = []
  /** True while every entry so far came in (device id, cluster) ascending order. */
  sorted = true
  private lastKey = -1
  warnings: string[] = []
  private fullTail = false
  /** The input is a vma-opt delta: it lists only the clusters that changed. */
  delta = false

  /** `allowDelta`: accept a delta (spec/delta-format.md); otherwise one is refused at its header. */
  constructor(
    private readonly problems: ProblemList,
    private readonly allowDelta = false,
  ) {}

  /** Whether cluster `cluster` of device `devId` was listed (a delta's held clusters). */
  has(devId: number, cluster: number): boolean {
    return this.seen[devId]?.has(cluster) ?? false
  }

  header(h: VmaHeader): void {
    this.delta = !!h.delta
    if (h.delta && !this.allowDelta) {
      this.problems.add(new VmaError('VMA_IS_DELTA', 4, 'this is a vma-opt delta, not a backup: restore it with `vma-opt apply BASE DELTA... OUT`', 'header'))
    }
    const seenNames = new Map<string, number>()
    for (const d of h.deviceList) {
      const vmstate = d.name === 'vmstate'
      const clusters = vmstate ? 0 : clusterCount(d.size)
      this.devices[d.id] = { id: d.id, name: d.name, size: d.size, clusters, clustersSeen: 0, storedBlocks: 0, zeroClusters: 0, vmstate }
      this.seen[d.id] = vmstate ? undefined : new SparseBitset(clusters)
      this.vmstateNext[d.id] = 0
      const rec = 4096 + 32 * d.id
      const bad = unsafeNameReason(d.name)
      if (bad) this.problems.add(new VmaError('VMA_BAD_NAME', rec, `device ${d.id}: ${bad}`, 'header'))
      const warn = deviceNameWarning(d.name)
      if (warn) this.warnings.push(`device ${d.id}: ${warn}`)
      const other = seenNames.get(d.name)
      if (other !== undefined) this.problems.add(new VmaError('VMA_DUPLICATE_NAME', rec, `devices ${other} and ${d.id} are both named ${JSON.stringify(d.name)}`, 'header'))
      seenNames.set(d.name, d.id)
    }
    const configNames = new Map<string, number>()
    for (const c of h.configs) {
      const at = 2044 + 4 * c.slot
      const bad = unsafeNameReason(c.name)
      if (bad) this.problems.add(new VmaError('VMA_BAD_NAME', at, `config slot ${c.slot}: ${bad}`, 'header'))
      const other = configNames.get(c.name)
      if (other !== undefined) this.problems.add(new VmaError('VMA_DUPLICATE_NAME', at, `config slots ${other} and ${c.slot} are both named ${JSON.stringify(c.name)}`, 'header'))
      configNames.set(c.name, c.slot)
    }
  }

  cluster(e: ClusterEntry): void {
    const at = ExtentHeader.slotOffset(e.extentOffset, e.slot)
    const key = e.devId * 2 ** 32 + e.cluster
    if (key <= this.lastKey) this.sorted = false
    this.lastKey = key
    const d = this.devices[e.devId]
    if (!d) {
      this.problems.add(new VmaError('VMA_UNKNOWN_DEVICE', at, `cluster ${e.cluster} names device id ${e.devId}, which the header does not define`, 'blockinfo'))
      return
    }
    if (d.vmstate) {
      if (e.cluster !== this.vmstateNext[e.devId]) {
        this.problems.add(new VmaError('VMA_VMSTATE_ORDER', at, `vmstate cluster ${e.cluster} out of order (expected ${this.vmstateNext[e.devId]})`, 'blockinfo'))
      }
      this.vmstateNext[e.devId] = e.cluster + 1
      d.clustersSeen++
      this.count(d, e.mask)
      return
    }
    if (e.cluster >= d.clusters) {
      this.problems.add(new VmaError('VMA_CLUSTER_RANGE', at, `cluster ${e.cluster} of ${d.name} is beyond the device end (${d.clusters} clusters, ${d.size} bytes)`, 'blockinfo'))
      return
    }
    const extra = e.mask & ~validMask(d.size, e.cluster)
    if (extra !== 0 && e.mask === 0xffff) {
      // Archives from before Proxmox's 2020 fix store full last clusters; its
      // reader accepts a full mask and writes only what lies inside.
      if (!this.fullTail) this.warnings.push(`cluster ${e.cluster} of ${d.name} stores blocks past the device end (an archive from before 2020); they are ignored`)
      this.fullTail = true
    } else if (extra !== 0) {
      this.problems.add(new VmaError('VMA_MASK_RANGE', at, `cluster ${e.cluster} of ${d.name} stores blocks beyond the device end (mask 0x${e.mask.toString(16).padStart(4, '0')})`, 'blockinfo'))
    } else if (e.mask !== 0 && (e.mask === 0xffff ? restorableMask(d.size, e.cluster) === 0 : (e.mask & ~restorableMask(d.size, e.cluster)) !== 0)) {
      // Only a size that is not a multiple of 512 (no QEMU disk has one) gets here.
      this.problems.add(
        new VmaError(
          'VMA_MASK_RANGE',
          at,
          `cluster ${e.cluster} of ${d.name} stores a block that starts in the last, partial 512-byte sector of its ${d.size}-byte device, which Proxmox's vma cannot restore (mask 0x${e.mask.toString(16).padStart(4, '0')})`,
          'blockinfo',
        ),
      )
    }
    if (!this.seen[e.devId]!.set(e.cluster)) {
      this.problems.add(new VmaError('VMA_DUPLICATE_CLUSTER', at, `cluster ${e.cluster} of ${d.name} appears twice`, 'blockinfo'))
      return
    }
    d.clustersSeen++
    this.count(d, e.mask)
  }

  private count(d: DeviceStats, mask: number): void {
    d.storedBlocks += popcount16(mask)
    if (mask === 0) d.zeroClusters++
  }

  /** At the end of the stream: every cluster of every device must have been seen (a delta holds only some). */
  end(): void {
    if (this.delta) return
    for (const d of this.devices) {
      if (!d || d.vmstate || d.clustersSeen === d.clusters) continue
      const first = this.seen[d.id]!.firstClear()
      const missing = d.clusters - d.clustersSeen
      this.problems.add(new VmaError('VMA_MISSING_CLUSTER', -1, `device ${d.name} lacks ${missing} of its ${d.clusters} clusters (first missing: cluster ${first})`, 'archive'))
    }
  }
}
