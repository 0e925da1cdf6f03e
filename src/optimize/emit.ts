// Writes the optimized form (spec/optimized-form.md) from an indexed plain
// archive: the canonical header, then for each device in id order its
// clusters in ascending order, 59 to an extent, a new extent at every device.
// A 4 KiB block is stored exactly when it is not all zeros; blocks past the
// device end are dropped and the straddling block's tail is zeroed.
//
// Data is read with positional reads of whole runs (clusters that sit next
// to each other in the input are read in one call) into buffers reused for
// every extent: no allocation per cluster or block. Two output buffers take
// turns, so the next extent is read and built while the last one is written.

import { BLOCK_SIZE, CLUSTER_SIZE, EXTENT_HEADER_SIZE, SLOTS_PER_EXTENT } from '../constants.js'
import { VmaError } from '../errors.js'
import { ExtentHeader, popcount16 } from '../extent-header.js'
import { VmaHeader } from '../header.js'
import { validMask } from '../cluster-tracker.js'
import type { PositionalFile } from '../input/positional-file.js'
import { isZero } from '../zero.js'
import type { ClusterIndex } from './cluster-index.js'

export interface EmitDevice {
  id: number
  name: string
  size: number
  /** Clusters to write: ceil(size / 64 KiB), or the count seen for a vmstate stream. */
  clusters: number
  vmstate: boolean
}

export interface EmitSource {
  header: VmaHeader
  devices: EmitDevice[]
  index: ClusterIndex
  file: PositionalFile
}

export interface ByteSink {
  write(buf: Uint8Array): Promise<void>
}

const EXTENT_MAX = EXTENT_HEADER_SIZE + SLOTS_PER_EXTENT * CLUSTER_SIZE
/** Largest stretch of unneeded input read to save a separate read. */
const MAX_GAP = 1 << 20
/** The read buffer: one extent's data plus room for gaps. */
const READ_BUF = SLOTS_PER_EXTENT * CLUSTER_SIZE + 4 * MAX_GAP

/** Writes the whole optimized archive to `out`; returns the bytes written. */
export async function emitOptimized(src: EmitSource, uuid: Buffer, out: ByteSink, progress?: (done: number) => void): Promise<number> {
  const h = src.header
  const header = VmaHeader.encode({ uuid, ctime: h.ctime, configs: h.configs, devices: h.deviceList })
  await out.write(header)
  let written = header.length
  const inBuf = Buffer.allocUnsafe(READ_BUF)
  const outBufs = [Buffer.allocUnsafe(EXTENT_MAX), Buffer.allocUnsafe(EXTENT_MAX)]
  let turn = 0
  let pending: Promise<void> = Promise.resolve()
  const masks = new Uint16Array(SLOTS_PER_EXTENT)
  const devIds = new Uint8Array(SLOTS_PER_EXTENT)
  const clusters = new Uint32Array(SLOTS_PER_EXTENT)
  const inPos = new Float64Array(SLOTS_PER_EXTENT)

  if (src.devices.length === 0) {
    // A diskless archive is the header plus one empty extent, as Proxmox writes it.
    const outBuf = outBufs[0]!
    ExtentHeader.encode(outBuf, 0, uuid, 0, masks, devIds, clusters)
    await out.write(outBuf.subarray(0, EXTENT_HEADER_SIZE))
    return written + EXTENT_HEADER_SIZE
  }

  for (const d of src.devices) {
    for (let first = 0; first < d.clusters; first += SLOTS_PER_EXTENT) {
      const n = Math.min(SLOTS_PER_EXTENT, d.clusters - first)
      // 1. Read the stored data of these clusters. Clusters close together in
      //    the input are read in one call, gaps (other devices' data) and all:
      //    a few wasted bytes cost less than a system call per cluster.
      let need = 0
      for (let i = 0; i < n; i++) need += popcount16(src.index.mask(d.id, first + i)) * BLOCK_SIZE
      // Gaps may use what the extent's own data leaves of the buffer, so it never overflows.
      let gapBudget = inBuf.length - need
      let fill = 0
      let runStart = 0
      let runFile = -1
      let runLen = 0
      const flush = async () => {
        if (runLen === 0) return
        const got = await src.file.read(inBuf, runStart, runLen, runFile)
        if (got !== runLen) {
          throw new VmaError('VMA_EXTENT_TRUNCATED', runFile + got, `the input ended while reading cluster data (did it change while being read?)`, 'input')
        }
        fill = runStart + runLen
        runLen = 0
      }
      for (let i = 0; i < n; i++) {
        const c = first + i
        const len = popcount16(src.index.mask(d.id, c)) * BLOCK_SIZE
        if (len === 0) continue
        const off = src.index.offset(d.id, c)
        const gap = off - (runFile + runLen)
        if (runLen > 0 && gap >= 0 && gap <= MAX_GAP && gap <= gapBudget) {
          gapBudget -= gap
          inPos[i] = runStart + runLen + gap
          runLen += gap + len
        } else {
          await flush()
          runStart = fill
          runFile = off
          runLen = len
          inPos[i] = runStart
        }
      }
      await flush()

      // 2. Build the extent: keep non-zero blocks inside the device only.
      const outBuf = outBufs[turn]!
      let o = EXTENT_HEADER_SIZE
      for (let i = 0; i < n; i++) {
        const c = first + i
        const mask = src.index.mask(d.id, c)
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
      // 3. Hand it to the writer once the previous write (of the other buffer) is done.
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
