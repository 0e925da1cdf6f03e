// A device of an indexed archive as plain content, 59 clusters at a time:
// each cluster its full 64 KiB, absent blocks and bytes past the device end as
// zeros. Used by cat (which writes it out) and compare (which compares two).

import { CLUSTER_SIZE, SLOTS_PER_EXTENT } from '../format/constants.js'
import { clusterCount } from '../format/cluster-tracker.js'
import type { VmaDevice } from '../format/header.js'
import { ArchiveClusterReader } from './archive-cluster-reader.js'
import type { IndexedArchive } from './index-archive.js'
import { expandClusters } from './expand-clusters.js'

/** Reads a device's clusters 59 at a time as full 64 KiB contents (zeros past its end or if absent). */
export class DeviceContents {
  private readonly reader?: ArchiveClusterReader
  private readonly stored: Buffer
  private readonly masks = new Uint16Array(SLOTS_PER_EXTENT)
  private readonly pos = new Float64Array(SLOTS_PER_EXTENT)
  readonly buf = Buffer.allocUnsafe(SLOTS_PER_EXTENT * CLUSTER_SIZE)

  constructor(
    idx: IndexedArchive | undefined,
    private readonly dev: VmaDevice | undefined,
  ) {
    if (idx && dev) this.reader = new ArchiveClusterReader(idx.file, idx.index)
    this.stored = Buffer.allocUnsafe(this.reader?.bufferSize ?? 0)
  }

  async read(first: number, n: number): Promise<void> {
    const d = this.dev
    const have = d ? Math.max(0, Math.min(n, clusterCount(d.size) - first)) : 0
    if (have > 0) {
      await this.reader!.read({ id: d!.id, name: d!.name, size: d!.size, clusters: clusterCount(d!.size), vmstate: false }, first, have, this.stored, this.masks, this.pos)
      expandClusters(this.stored, this.masks, this.pos, have, this.buf)
      // Bytes past the device end are not content.
      const end = d!.size - first * CLUSTER_SIZE
      if (end < have * CLUSTER_SIZE) this.buf.fill(0, end, have * CLUSTER_SIZE)
    }
    this.buf.fill(0, have * CLUSTER_SIZE, n * CLUSTER_SIZE)
  }
}
