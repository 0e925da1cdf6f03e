import { BLOCK_SIZE, CLUSTER_SIZE } from '../format/constants.js'

/**
 * Turns stored blocks (as a ClusterReader delivers them) into the clusters'
 * full 64 KiB contents, absent blocks as zeros: cluster i lands at
 * out[i * 64 KiB]. One native copy per stored block, nothing allocated.
 */
export function expandClusters(stored: Buffer, masks: Uint16Array, pos: Float64Array, n: number, out: Buffer): void {
  out.fill(0, 0, n * CLUSTER_SIZE)
  for (let i = 0; i < n; i++) {
    let p = pos[i]!
    for (let j = 0; j < 16; j++) {
      if (!(masks[i]! & (1 << j))) continue
      stored.copy(out, i * CLUSTER_SIZE + j * BLOCK_SIZE, p, p + BLOCK_SIZE)
      p += BLOCK_SIZE
    }
  }
}
