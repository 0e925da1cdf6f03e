import type { Attribute } from './ntfs-attribute.js'
import { ensure } from './ntfs-skip.js'
import type { NtfsVolume } from './ntfs-volume.js'

/** Bytes at the start of the volume that $Boot always occupies (boot sector + bootstrap code). */
const BOOT_FILE_BYTES = 8192

export const isUsed = (bitmap: Uint8Array, c: number) => (bitmap[c >> 3]! & (1 << (c & 7))) !== 0

/**
 * Reads $Bitmap (1 bit per cluster, set = in use), once, exactly as long as the
 * cluster count needs: a bitmap that disagrees with the cluster count is not
 * trusted. Bits past the last cluster are set, so they never read as free.
 */
export async function readClusterBitmap(ntfs: NtfsVolume, bitmap: Attribute): Promise<Uint8Array> {
  const need = Math.ceil(ntfs.boot.clusters / 8)
  const size = bitmap.resident ? bitmap.value.length : bitmap.dataSize
  // mkntfs and Windows size $Bitmap to the cluster count rounded up to 8 bytes.
  ensure(size >= need && size <= Math.ceil(need / 8) * 8, `$Bitmap is ${size} bytes, the ${ntfs.boot.clusters} clusters need ${need}`)
  if (!bitmap.resident) ensure(bitmap.initializedSize >= need, `$Bitmap initialized size ${bitmap.initializedSize} is below ${need}`)
  const used: Uint8Array = await ntfs.readStream(bitmap, 0, need) // the only per-cluster allocation
  const tail = ntfs.boot.clusters & 7
  if (tail) used[need - 1]! |= 0xff << tail
  return used
}

/** Cluster ranges [first, count] a metadata file's non-resident stream occupies. */
export function streamClusters(attr: Attribute): [number, number][] {
  if (attr.resident) return []
  return attr.runs.filter(r => r.lcn !== undefined).map(r => [r.lcn!, r.length])
}

/**
 * Every cluster of `ranges` (named for the reason) and the clusters of $Boot
 * must be marked used, or the bitmap does not describe this volume: skip.
 */
export function checkMarkedUsed(ntfs: NtfsVolume, used: Uint8Array, ranges: [string, [number, number][]][]): void {
  const bootClusters = Math.min(ntfs.boot.clusters, Math.ceil(BOOT_FILE_BYTES / ntfs.boot.clusterSize))
  for (const [what, list] of [['$Boot', [[0, bootClusters]]] as [string, [number, number][]], ...ranges]) {
    for (const [first, count] of list) {
      for (let c = first; c < first + count; c++) {
        ensure(c < ntfs.boot.clusters && isUsed(used, c), () => `${what} cluster ${c} is marked free: $Bitmap not trusted`)
      }
    }
  }
}

/** Number of clear bits among the first `units` bits. */
export function countFree(used: Uint8Array, units: number): number {
  let free = 0
  for (let i = 0; i < units >> 3; i++) {
    let b = ~used[i]! & 0xff
    for (; b; b &= b - 1) free++
  }
  for (let c = units & ~7; c < units; c++) if (!isUsed(used, c)) free++
  return free
}
