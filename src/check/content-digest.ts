// Per-device content digests that do not depend on the order in which
// clusters arrive or on how they are stored: a block stored as zeros and a
// block left out of the mask give the same digest, and bytes past the device
// end are ignored. Optimize compares these between input and output.
//
// digest(device) = sum over clusters c of xxh64(u64le(xxh64(content(c))) || u64le(c))  mod 2^64
// where content(c) is the cluster's 64 KiB with absent blocks and bytes past
// the device end taken as zeros. The sum makes it order independent.
//
// A vmstate stream has no size bound and Proxmox's reader appends exactly
// its stored blocks: every byte counts (none past the declared size is taken
// as zero) and the mask is part of what is proven, in bits 32..47 of the
// cluster word.

import type { XXHashAPI } from 'xxhash-wasm'
import { CLUSTER_SIZE, ZERO_CLUSTER } from '../format/constants.js'
import { ClusterAssembly } from '../format/block-mask.js'
import type { VmaHeader } from '../format/header.js'
import type { ClusterEntry, VmaSink } from '../format/vma-sink.js'

const MOD = (1n << 64n) - 1n

export interface DeviceDigest {
  id: number
  name: string
  size: number
  /** 16 hex digits. */
  digest: string
  clusters: number
}

export class ContentDigest implements VmaSink {
  private readonly sums: bigint[] = []
  private readonly counts: number[] = []
  private sizes: number[] = []
  private names: string[] = []
  private vmstate: boolean[] = []
  private readonly assembly = new ClusterAssembly()
  private readonly mixBuf = Buffer.alloc(16)
  private readonly zeroHash: bigint
  /** Stored bytes of the current cluster received so far. */
  private got = 0
  private mask = 0
  private active = false
  private direct: bigint | undefined
  /** The current cluster is the device's last and shorter than 64 KiB. */
  private partial = false

  constructor(private readonly xx: XXHashAPI) {
    this.zeroHash = xx.h64Raw(ZERO_CLUSTER)
  }

  header(h: VmaHeader): void {
    for (const d of h.deviceList) this.addDevice(d.id, d.name, d.size)
  }

  /** Registers a device without a header (pack digests raw images this way). */
  addDevice(id: number, name: string, size: number): void {
    this.sums[id] = 0n
    this.counts[id] = 0
    this.sizes[id] = size
    this.names[id] = name
    this.vmstate[id] = name === 'vmstate'
  }

  cluster(e: ClusterEntry): void {
    // Entries the tracker rejects (unknown device) are not part of any device.
    this.active = this.sums[e.devId] !== undefined
    this.mask = e.mask
    this.got = 0
    this.direct = undefined
    this.partial = this.active && !this.vmstate[e.devId] && this.sizes[e.devId]! - e.cluster * CLUSTER_SIZE < CLUSTER_SIZE
    if (this.active && e.mask !== 0) this.assembly.start(e.mask)
  }

  data(chunk: Uint8Array): void {
    if (!this.active) return
    // Fast path: a full cluster delivered in one piece needs no copy.
    if (this.mask === 0xffff && this.got === 0 && chunk.length === CLUSTER_SIZE && !this.partial) {
      this.direct = this.xx.h64Raw(chunk)
      this.got = CLUSTER_SIZE
      return
    }
    this.got += chunk.length
    this.assembly.add(chunk)
  }

  clusterEnd(e: ClusterEntry): void {
    if (!this.active) return
    let h: bigint
    if (e.mask === 0) h = this.zeroHash
    else {
      // The last cluster: what lies past the device end is not content.
      if (this.partial) this.assembly.buf.fill(0, Math.max(0, this.sizes[e.devId]! - e.cluster * CLUSTER_SIZE))
      h = this.direct ?? this.xx.h64Raw(this.assembly.buf)
    }
    this.mixBuf.writeBigUInt64LE(h, 0)
    this.mixBuf.writeUInt32LE(e.cluster, 8)
    this.mixBuf.writeUInt32LE(this.vmstate[e.devId] ? e.mask : 0, 12)
    this.sums[e.devId] = (this.sums[e.devId]! + this.xx.h64Raw(this.mixBuf)) & MOD
    this.counts[e.devId]!++
  }

  result(): DeviceDigest[] {
    const out: DeviceDigest[] = []
    this.sums.forEach((sum, id) => {
      if (sum === undefined) return
      out.push({ id, name: this.names[id]!, size: this.sizes[id]!, digest: sum.toString(16).padStart(16, '0'), clusters: this.counts[id]! })
    })
    return out
  }
}
