// A device of an indexed archive as a TrimDisk: random reads at any byte
// offset, for the planner (metadata), the guard digests and the count of
// non-zero free bytes. Each read fetches whole 64 KiB clusters through the
// cluster index (one positional read of a cluster's stored blocks); the last
// cluster is kept, because metadata is read in small pieces close together.

import { BLOCK_SIZE, CLUSTER_SIZE } from '../../format/constants.js'
import { popcount16 } from '../../format/extent-header.js'
import type { VmaDevice } from '../../format/header.js'
import type { PositionalFile } from '../../input/positional-file.js'
import type { ClusterIndex } from '../../archive/cluster-index.js'
import { expandClusters } from '../../archive/expand-clusters.js'
import { VmaError } from '../../util/errors.js'
import type { TrimDisk } from './disk.js'

export class ArchiveDisk implements TrimDisk {
  readonly name: string
  readonly size: number
  private readonly cluster = Buffer.alloc(CLUSTER_SIZE)
  private readonly stored = Buffer.allocUnsafe(CLUSTER_SIZE)
  private readonly mask = new Uint16Array(1)
  private readonly pos = new Float64Array(1)
  private cached = -1

  constructor(
    private readonly file: PositionalFile,
    private readonly index: ClusterIndex,
    private readonly dev: VmaDevice,
  ) {
    this.name = dev.name
    this.size = dev.size
  }

  async read(buf: Buffer, offset: number): Promise<void> {
    if (offset < 0 || offset + buf.length > this.size) {
      // The planner checks every on-disk extent against the container first; this is a bug guard.
      throw new Error(`trim read of ${buf.length} bytes at ${offset} is outside ${this.name} (${this.size} bytes)`)
    }
    for (let done = 0; done < buf.length; ) {
      const at = offset + done
      const c = Math.floor(at / CLUSTER_SIZE)
      const within = at - c * CLUSTER_SIZE
      const n = Math.min(CLUSTER_SIZE - within, buf.length - done)
      await this.load(c)
      this.cluster.copy(buf, done, within, within + n)
      done += n
    }
  }

  private async load(c: number): Promise<void> {
    if (c === this.cached) return
    this.cached = -1
    const mask = this.index.mask(this.dev.id, c)
    const len = popcount16(mask) * BLOCK_SIZE
    if (len === 0) this.cluster.fill(0)
    else {
      const target = mask === 0xffff ? this.cluster : this.stored
      const off = this.index.offset(this.dev.id, c)
      const got = await this.file.read(target, 0, len, off)
      if (got !== len) throw new VmaError('VMA_EXTENT_TRUNCATED', off + got, 'the input ended while reading cluster data (did it change while being read?)', 'input')
      if (mask !== 0xffff) {
        this.mask[0] = mask
        this.pos[0] = 0
        expandClusters(this.stored, this.mask, this.pos, 1, this.cluster)
      }
    }
    this.cached = c
  }
}
