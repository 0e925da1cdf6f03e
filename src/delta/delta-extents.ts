// Writes a delta's extents: for each device in id order, the clusters it
// holds in ascending order, 59 to an extent, a new extent at every device.
// A cluster's 4 KiB blocks are stored exactly when they are not all zero (a
// cluster that became all zero is listed with mask 0). After each extent
// header comes its check sector (DLT2): the xxh64 of each slot's stored
// bytes, so that a reader that fetches one cluster can check it alone.

import type { XXHashAPI } from 'xxhash-wasm'
import { BLOCK_SIZE, CHECK_SECTOR_SIZE, CLUSTER_SIZE, EXTENT_HEADER_SIZE, SLOTS_PER_EXTENT } from '../format/constants.js'
import { ExtentHeader, popcount16 } from '../format/extent-header.js'
import type { ByteSink } from '../archive/emit.js'
import { packNonZeroBlocks } from '../format/block-mask.js'

/** Where an extent's data starts in the buffer: after its header and check sector. */
const DATA_START = EXTENT_HEADER_SIZE + CHECK_SECTOR_SIZE

export class DeltaExtentWriter {
  private readonly buf = Buffer.allocUnsafe(DATA_START + SLOTS_PER_EXTENT * CLUSTER_SIZE)
  private readonly masks = new Uint16Array(SLOTS_PER_EXTENT)
  private readonly devIds = new Uint8Array(SLOTS_PER_EXTENT)
  private readonly clusters = new Uint32Array(SLOTS_PER_EXTENT)
  private n = 0
  private fill = DATA_START
  /** Plain bytes written so far (the header is the caller's). */
  bytes = 0

  constructor(
    private readonly out: ByteSink,
    private readonly uuid: Buffer,
    private readonly xx: XXHashAPI,
  ) {}

  /** Adds a cluster whose full content (zeros past the device end) is content[at, at + 64 KiB). */
  async add(devId: number, cluster: number, content: Buffer, at: number): Promise<void> {
    const start = this.fill
    const mask = packNonZeroBlocks(content, at, this.buf, this.fill)
    this.fill += popcount16(mask) * BLOCK_SIZE
    this.buf.writeBigUInt64LE(this.xx.h64Raw(this.buf.subarray(start, this.fill)), EXTENT_HEADER_SIZE + this.n * 8)
    this.masks[this.n] = mask
    this.devIds[this.n] = devId
    this.clusters[this.n] = cluster
    if (++this.n === SLOTS_PER_EXTENT) await this.flush()
  }

  /** Ends the current extent (at every device's end). */
  async flush(): Promise<void> {
    if (this.n === 0) return
    ExtentHeader.encode(this.buf, 0, this.uuid, this.n, this.masks, this.devIds, this.clusters)
    this.buf.fill(0, EXTENT_HEADER_SIZE + this.n * 8, DATA_START) // unused slots and the reserved tail
    await this.out.write(this.buf.subarray(0, this.fill))
    this.bytes += this.fill
    this.n = 0
    this.fill = DATA_START
  }
}
