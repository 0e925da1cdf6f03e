// Writes a delta's extents: for each device in id order, the clusters it
// holds in ascending order, 59 to an extent, a new extent at every device.
// A cluster's 4 KiB blocks are stored exactly when they are not all zero (a
// cluster that became all zero is listed with mask 0).

import { BLOCK_SIZE, CLUSTER_SIZE, EXTENT_HEADER_SIZE, SLOTS_PER_EXTENT } from '../format/constants.js'
import { ExtentHeader } from '../format/extent-header.js'
import type { ByteSink } from '../archive/emit.js'
import { isZero } from '../util/zero.js'

export class DeltaExtentWriter {
  private readonly buf = Buffer.allocUnsafe(EXTENT_HEADER_SIZE + SLOTS_PER_EXTENT * CLUSTER_SIZE)
  private readonly masks = new Uint16Array(SLOTS_PER_EXTENT)
  private readonly devIds = new Uint8Array(SLOTS_PER_EXTENT)
  private readonly clusters = new Uint32Array(SLOTS_PER_EXTENT)
  private n = 0
  private fill = EXTENT_HEADER_SIZE
  /** Plain bytes written so far (the header is the caller's). */
  bytes = 0

  constructor(
    private readonly out: ByteSink,
    private readonly uuid: Buffer,
  ) {}

  /** Adds a cluster whose full content (zeros past the device end) is content[at, at + 64 KiB). */
  async add(devId: number, cluster: number, content: Buffer, at: number): Promise<void> {
    let mask = 0
    for (let j = 0; j < 16; j++) {
      const o = at + j * BLOCK_SIZE
      if (isZero(content, o, o + BLOCK_SIZE)) continue
      content.copy(this.buf, this.fill, o, o + BLOCK_SIZE)
      this.fill += BLOCK_SIZE
      mask |= 1 << j
    }
    this.masks[this.n] = mask
    this.devIds[this.n] = devId
    this.clusters[this.n] = cluster
    if (++this.n === SLOTS_PER_EXTENT) await this.flush()
  }

  /** Ends the current extent (at every device's end). */
  async flush(): Promise<void> {
    if (this.n === 0) return
    ExtentHeader.encode(this.buf, 0, this.uuid, this.n, this.masks, this.devIds, this.clusters)
    await this.out.write(this.buf.subarray(0, this.fill))
    this.bytes += this.fill
    this.n = 0
    this.fill = EXTENT_HEADER_SIZE
  }
}
