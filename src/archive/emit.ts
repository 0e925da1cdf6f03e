// Writes the optimized form (spec/optimized-form.md): the canonical header,
// then for each device in id order its clusters in ascending order, 59 to an
// extent, a new extent at every device. A 4 KiB block is stored exactly when
// it is not all zeros; blocks past the device end are dropped and the
// straddling block's tail is zeroed.
//
// Where the clusters come from is a ClusterReader: an indexed archive
// (optimize, cat) or raw images (pack). Buffers are reused for every extent:
// no allocation per cluster or block. Two output buffers take turns, so the
// next extent is read and built while the last one is being written.

import { BLOCK_SIZE, CLUSTER_SIZE, EXTENT_HEADER_SIZE, SLOTS_PER_EXTENT } from '../format/constants.js'
import { ExtentHeader } from '../format/extent-header.js'
import { VmaHeader, type HeaderFields } from '../format/header.js'
import { validMask } from '../format/cluster-tracker.js'
import { isZero } from '../util/zero.js'

export interface EmitDevice {
  id: number
  name: string
  size: number
  /** Clusters to write: ceil(size / 64 KiB), or the count seen for a vmstate stream. */
  clusters: number
  vmstate: boolean
}

/**
 * Fills `buf` with the stored blocks of clusters `first` .. `first + n - 1`
 * of a device: for each cluster i, masks[i] says which blocks are present and
 * pos[i] where in `buf` the first of them starts (the others follow it).
 */
export interface ClusterReader {
  readonly bufferSize: number
  read(d: EmitDevice, first: number, n: number, buf: Buffer, masks: Uint16Array, pos: Float64Array): Promise<void>
}

export interface ByteSink {
  write(buf: Uint8Array): Promise<void>
}

const EXTENT_MAX = EXTENT_HEADER_SIZE + SLOTS_PER_EXTENT * CLUSTER_SIZE

/** Writes the whole optimized archive to `out`; returns the bytes written. */
export async function emitOptimized(
  fields: HeaderFields,
  devices: EmitDevice[],
  reader: ClusterReader,
  out: ByteSink,
  progress?: (done: number) => void,
): Promise<number> {
  const uuid = fields.uuid
  const header = VmaHeader.encode(fields)
  await out.write(header)
  let written = header.length
  const inBuf = Buffer.allocUnsafe(reader.bufferSize)
  const outBufs = [Buffer.allocUnsafe(EXTENT_MAX), Buffer.allocUnsafe(EXTENT_MAX)]
  let turn = 0
  let pending: Promise<void> = Promise.resolve()
  const inMasks = new Uint16Array(SLOTS_PER_EXTENT)
  const inPos = new Float64Array(SLOTS_PER_EXTENT)
  const masks = new Uint16Array(SLOTS_PER_EXTENT)
  const devIds = new Uint8Array(SLOTS_PER_EXTENT)
  const clusters = new Uint32Array(SLOTS_PER_EXTENT)

  if (devices.length === 0) {
    // A diskless archive is the header plus one empty extent, as Proxmox writes it.
    ExtentHeader.encode(outBufs[0]!, 0, uuid, 0, masks, devIds, clusters)
    await out.write(outBufs[0]!.subarray(0, EXTENT_HEADER_SIZE))
    return written + EXTENT_HEADER_SIZE
  }

  for (const d of devices) {
    for (let first = 0; first < d.clusters; first += SLOTS_PER_EXTENT) {
      const n = Math.min(SLOTS_PER_EXTENT, d.clusters - first)
      await reader.read(d, first, n, inBuf, inMasks, inPos)

      // Keep the non-zero blocks that lie inside the device.
      const outBuf = outBufs[turn]!
      let o = EXTENT_HEADER_SIZE
      for (let i = 0; i < n; i++) {
        const c = first + i
        const mask = inMasks[i]!
        const valid = d.vmstate ? 0xffff : validMask(d.size, c)
        const end = d.vmstate ? CLUSTER_SIZE : d.size - c * CLUSTER_SIZE // bytes of this cluster inside the device
        let p = inPos[i]!
        let outMask = 0
        for (let j = 0; j < 16; j++) {
          if (!(mask & (1 << j))) continue
          const blockStart = j * BLOCK_SIZE
          if (valid & (1 << j)) {
            if (end < blockStart + BLOCK_SIZE) {
              // The block straddles the device end: keep only what lies inside.
              const keep = end - blockStart
              inBuf.copy(outBuf, o, p, p + keep)
              outBuf.fill(0, o + keep, o + BLOCK_SIZE)
              if (!isZero(outBuf, o, o + keep)) {
                outMask |= 1 << j
                o += BLOCK_SIZE
              }
            } else if (!isZero(inBuf, p, p + BLOCK_SIZE)) {
              inBuf.copy(outBuf, o, p, p + BLOCK_SIZE)
              outMask |= 1 << j
              o += BLOCK_SIZE
            }
          }
          p += BLOCK_SIZE
        }
        masks[i] = outMask
        devIds[i] = d.id
        clusters[i] = c
      }
      ExtentHeader.encode(outBuf, 0, uuid, n, masks, devIds, clusters)
      // Hand it to the writer once the previous write (of the other buffer) is done.
      await pending
      pending = out.write(outBuf.subarray(0, o))
      pending.catch(() => undefined) // awaited below; avoids an unhandled rejection meanwhile
      turn ^= 1
      written += o
      progress?.(written)
    }
  }
  await pending
  return written
}
