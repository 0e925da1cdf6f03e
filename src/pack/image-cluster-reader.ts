// Reads clusters straight from raw disk images for pack, in runs of up to 59
// clusters, and takes each device's content digest on the way (the check
// after writing compares the archive with these). Bytes past the end of an
// image file read as zeros: that is the padding up to a 512-byte multiple.

import { CLUSTER_SIZE, SLOTS_PER_EXTENT } from '../format/constants.js'
import type { ContentDigest } from '../check/content-digest.js'
import type { PositionalFile } from '../input/positional-file.js'
import type { ClusterReader, EmitDevice } from '../archive/emit.js'
import type { ClusterEntry } from '../format/vma-sink.js'

export class ImageClusterReader implements ClusterReader {
  readonly bufferSize = SLOTS_PER_EXTENT * CLUSTER_SIZE
  private readonly entry: ClusterEntry = { devId: 0, cluster: 0, mask: 0xffff, dataOffset: 0, extentOffset: 0, slot: 0 }

  constructor(
    private readonly images: Map<number, PositionalFile>,
    private readonly digest: ContentDigest,
  ) {}

  async read(d: EmitDevice, first: number, n: number, buf: Buffer, masks: Uint16Array, pos: Float64Array): Promise<void> {
    const len = n * CLUSTER_SIZE
    const got = await this.images.get(d.id)!.read(buf, 0, len, first * CLUSTER_SIZE)
    buf.fill(0, got, len)
    const e = this.entry
    e.devId = d.id
    for (let i = 0; i < n; i++) {
      masks[i] = 0xffff // every block is offered; the writer drops zero blocks and what lies past the end
      pos[i] = i * CLUSTER_SIZE
      e.cluster = first + i
      this.digest.cluster(e)
      this.digest.data(buf.subarray(i * CLUSTER_SIZE, (i + 1) * CLUSTER_SIZE))
      this.digest.clusterEnd(e)
    }
  }
}
