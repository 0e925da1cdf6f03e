// Writes the optimized form (spec/optimized-form.md): the canonical header,
// then for each device in id order its clusters in ascending order, 59 to an
// extent, a new extent at every device. A 4 KiB block is stored exactly when
// it is not all zeros; blocks past the device end are dropped and the
// straddling block's tail is zeroed. A vmstate stream (no size bound) is
// carried as stored.
//
// Aligned (spec/optimized-form.md, "The aligned form"): before an extent that
// stores blocks, empty extents (512-byte headers, no entries) pad the file so
// that its first block, and so all of them, start at a multiple of 4 KiB:
// what a filesystem needs to share blocks between archives (src/share/).
//
// Where the clusters come from is a ClusterReader: an indexed archive
// (optimize, cat) or raw images (pack). Buffers are reused for every extent:
// no allocation per cluster or block. Reads run ahead (when the reader allows
// it) and writes behind, so reading, building and writing overlap.

import { BLOCK_SIZE, CLUSTER_SIZE, EXTENT_HEADER_SIZE, SLOTS_PER_EXTENT } from '../format/constants.js'
import { ExtentHeader, popcount16 } from '../format/extent-header.js'
import { VmaHeader, type HeaderFields } from '../format/header.js'
import { validMask } from '../format/cluster-tracker.js'
import { isZero } from '../util/zero.js'
import { ALIGNMENT, alignPadding } from '../check/form-check.js'

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
  /**
   * Calls may overlap (each with its own buffers): the writer then keeps
   * several reads in flight. Only for readers without state between calls.
   */
  readonly concurrent?: boolean
  read(d: EmitDevice, first: number, n: number, buf: Buffer, masks: Uint16Array, pos: Float64Array): Promise<void>
}

/**
 * Where the archive's bytes go. Writes may be outstanding several at a time;
 * the sink must put them out in the order of the calls.
 */
export interface ByteSink {
  write(buf: Uint8Array): Promise<void>
}

const EXTENT_MAX = EXTENT_HEADER_SIZE + SLOTS_PER_EXTENT * CLUSTER_SIZE

/** Most padding before one extent: 7 empty extents. */
const PAD_MAX = ALIGNMENT - EXTENT_HEADER_SIZE

/**
 * Extents read ahead and written behind. On a busy machine every hand-off
 * between the event loop and the I/O threads waits its turn for a core; with
 * one read and one write in flight those waits add up over the ~600 extents
 * of a 2 GiB archive. A few of each keep the threads busy meanwhile.
 */
const READ_AHEAD = 2
const WRITE_BEHIND = 2

/** One extent's worth of input: the reader's buffer, masks and positions. */
interface InSlot {
  buf: Buffer
  masks: Uint16Array
  pos: Float64Array
  done: Promise<void>
}

interface Job {
  d: EmitDevice
  first: number
  n: number
}

/** Every extent of the optimized form, in order: per device, 59 clusters each. */
function* extentJobs(devices: EmitDevice[]): Generator<Job> {
  for (const d of devices) {
    for (let first = 0; first < d.clusters; first += SLOTS_PER_EXTENT) yield { d, first, n: Math.min(SLOTS_PER_EXTENT, d.clusters - first) }
  }
}

/** Writes the whole optimized archive to `out`; returns the bytes written. */
export async function emitOptimized(fields: HeaderFields, devices: EmitDevice[], reader: ClusterReader, out: ByteSink, progress?: (done: number) => void, align = false): Promise<number> {
  const uuid = fields.uuid
  const header = VmaHeader.encode(fields)
  await out.write(header)
  let written = header.length
  const extent = new ExtentBuilder(uuid)

  if (devices.every(d => d.clusters === 0)) {
    // A diskless archive is the header plus one empty extent, as Proxmox writes it
    // (also one whose only devices are empty vmstate streams).
    await out.write(emptyExtents(uuid, 1))
    return written + EXTENT_HEADER_SIZE
  }

  const ahead = reader.concurrent ? READ_AHEAD : 1
  const slots: InSlot[] = Array.from({ length: ahead }, () => ({
    buf: Buffer.allocUnsafe(reader.bufferSize),
    masks: new Uint16Array(SLOTS_PER_EXTENT),
    pos: new Float64Array(SLOTS_PER_EXTENT),
    done: Promise.resolve(),
  }))
  // A reader that holds data of its own (rereading a compressed input) gets no extra buffers.
  const behind = reader.concurrent ? WRITE_BEHIND : 1
  // Each extent is built PAD_MAX bytes in, leaving room for its padding in front.
  const outBufs = Array.from({ length: behind + 1 }, () => Buffer.allocUnsafe(PAD_MAX + EXTENT_MAX))
  const pad = align ? emptyExtents(uuid, PAD_MAX / EXTENT_HEADER_SIZE) : undefined
  const writes: Promise<void>[] = []
  const jobs = extentJobs(devices)
  const queued: Job[] = []
  const startRead = (slot: InSlot) => {
    const j = jobs.next()
    if (j.done) return
    queued.push(j.value)
    slot.done = reader.read(j.value.d, j.value.first, j.value.n, slot.buf, slot.masks, slot.pos)
    slot.done.catch(() => undefined) // awaited in turn; avoids an unhandled rejection meanwhile
  }
  try {
    for (const s of slots) startRead(s)
    for (let k = 0; queued.length; k++) {
      const job = queued.shift()!
      const slot = slots[k % ahead]!
      await slot.done
      // The buffer about to be filled was handed to the writer behind + 1 extents ago.
      if (writes.length > behind) await writes.shift()
      const outBuf = outBufs[k % outBufs.length]!
      const len = extent.build(job.d, job.first, job.n, slot, outBuf, PAD_MAX)
      startRead(slot) // its data has been copied out
      let from = PAD_MAX
      if (pad && len > EXTENT_HEADER_SIZE) {
        const p = alignPadding(written) * EXTENT_HEADER_SIZE
        from -= p
        pad.copy(outBuf, from, 0, p)
      }
      const w = out.write(outBuf.subarray(from, PAD_MAX + len))
      w.catch(() => undefined) // awaited below
      writes.push(w)
      written += PAD_MAX + len - from
      progress?.(written)
    }
    for (const w of writes) await w
  } finally {
    // Nothing may still be reading into or writing from these buffers when the caller moves on.
    await Promise.allSettled([...slots.map(s => s.done), ...writes])
  }
  return written
}

/** Builds one extent of the optimized form from one extent's worth of input. */
class ExtentBuilder {
  readonly masks = new Uint16Array(SLOTS_PER_EXTENT)
  readonly devIds = new Uint8Array(SLOTS_PER_EXTENT)
  readonly clusters = new Uint32Array(SLOTS_PER_EXTENT)

  constructor(private readonly uuid: Uint8Array) {}

  /** Puts the extent for clusters first .. first + n - 1 into `outBuf` at `at`; returns its length. */
  build(d: EmitDevice, first: number, n: number, input: InSlot, outBuf: Buffer, at: number): number {
    const inBuf = input.buf
    let o = at + EXTENT_HEADER_SIZE
    // Keep the non-zero blocks that lie inside the device.
    for (let i = 0; i < n; i++) {
      const c = first + i
      const mask = input.masks[i]!
      this.devIds[i] = d.id
      this.clusters[i] = c
      if (d.vmstate) {
        this.masks[i] = mask
        o = copyStored(inBuf, input.pos[i]!, mask, outBuf, o)
        continue
      }
      const valid = validMask(d.size, c)
      const end = d.size - c * CLUSTER_SIZE // bytes of this cluster inside the device
      let p = input.pos[i]!
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
      this.masks[i] = outMask
    }
    ExtentHeader.encode(outBuf, at, this.uuid, n, this.masks, this.devIds, this.clusters)
    return o - at
  }
}

/** `count` empty extents (no entries, no blocks) with `uuid`, one after the other. */
function emptyExtents(uuid: Uint8Array, count: number): Buffer {
  const none = new Uint16Array(0)
  const b = Buffer.alloc(count * EXTENT_HEADER_SIZE)
  for (let i = 0; i < count; i++) ExtentHeader.encode(b, i * EXTENT_HEADER_SIZE, uuid, 0, none, new Uint8Array(0), new Uint32Array(0))
  return b
}

/**
 * A vmstate cluster is carried exactly as stored, zero blocks included:
 * Proxmox's reader appends a vmstate stream's stored blocks one after the
 * other, so leaving one out would shift everything after it.
 */
function copyStored(inBuf: Buffer, p: number, mask: number, outBuf: Buffer, o: number): number {
  const len = popcount16(mask) * BLOCK_SIZE
  inBuf.copy(outBuf, o, p, p + len)
  return o + len
}
