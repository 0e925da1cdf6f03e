import { CLUSTER_SIZE } from '../format/constants.js'
import { expandCluster } from '../format/block-mask.js'

/**
 * Turns stored blocks (as a ClusterReader delivers them) into the clusters'
 * full 64 KiB contents, absent blocks as zeros: cluster i lands at
 * out[i * 64 KiB]. One native copy per stored block, nothing allocated.
 */
export function expandClusters(stored: Buffer, masks: Uint16Array, pos: Float64Array, n: number, out: Buffer): void {
  for (let i = 0; i < n; i++) expandCluster(stored, pos[i]!, masks[i]!, out, i * CLUSTER_SIZE)
}
