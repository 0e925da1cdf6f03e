import type { VolumeReader } from './volume.js'
import type { TrimDisk } from './disk/disk.js'
import { TrimSkip } from './skip.js'

/**
 * Where a volume's bytes live on the disks. A partition or whole disk is one
 * linear segment; an LV is a list of segments, each linear (one leg) or striped
 * over several legs in `chunk`-byte stripes. Memory is proportional to the
 * number of LVM segments, never to the volume size.
 */
export interface Segment {
  /** Volume offset of the segment's first byte. */
  volStart: number
  length: number
  /** Stripe size in bytes; equal to `length` for a linear segment. */
  chunk: number
  legs: { disk: string; devStart: number }[]
}

export interface VolumeLayout {
  id: string
  size: number
  segments: Segment[]
}

/**
 * A device-contiguous piece of a volume: device bytes [devStart, devStart+length)
 * of `disk`; device byte devStart+x holds volume byte
 * volOffset + floor(x/chunk)*stride + x%chunk (one stripe leg; linear: one row).
 */
export interface Piece {
  disk: string
  devStart: number
  length: number
  volOffset: number
  chunk: number
  stride: number
}

export function linearLayout(id: string, disk: string, devStart: number, size: number): VolumeLayout {
  return { id, size, segments: [{ volStart: 0, length: size, chunk: size, legs: [{ disk, devStart }] }] }
}

export function piecesOf(layout: VolumeLayout): Piece[] {
  const out: Piece[] = []
  for (const s of layout.segments) {
    const n = s.legs.length
    s.legs.forEach((leg, i) =>
      out.push({
        disk: leg.disk,
        devStart: leg.devStart,
        length: s.length / n,
        volOffset: s.volStart + i * s.chunk,
        chunk: s.chunk,
        stride: s.chunk * n,
      }),
    )
  }
  return out
}

/** The device position of volume byte `v` and how many bytes follow contiguously. */
export function mapVolumeOffset(layout: VolumeLayout, v: number): { disk: string; dev: number; run: number } {
  const segs = layout.segments
  let lo = 0
  let hi = segs.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (segs[mid]!.volStart <= v) lo = mid
    else hi = mid - 1
  }
  const s = segs[lo]!
  const x = v - s.volStart
  if (x < 0 || x >= s.length) throw new TrimSkip(`volume ${layout.id}: offset ${v} not mapped`)
  const k = Math.floor(x / s.chunk)
  const n = s.legs.length
  const leg = s.legs[k % n]!
  const within = x % s.chunk
  return { disk: leg.disk, dev: leg.devStart + Math.floor(k / n) * s.chunk + within, run: s.chunk - within }
}

/** A VolumeReader over a layout, reading through the given disks. */
export function volumeReader(layout: VolumeLayout, disks: Map<string, TrimDisk>): VolumeReader {
  return {
    size: layout.size,
    async read(buf: Buffer, offset: number): Promise<void> {
      if (offset < 0 || offset + buf.length > layout.size || !Number.isSafeInteger(offset)) {
        throw new TrimSkip(`read of ${buf.length} bytes at ${offset} outside volume ${layout.id} (${layout.size} bytes)`)
      }
      let done = 0
      while (done < buf.length) {
        const m = mapVolumeOffset(layout, offset + done)
        const n = Math.min(m.run, buf.length - done)
        const disk = disks.get(m.disk)
        if (!disk) throw new TrimSkip(`disk ${m.disk} not present`)
        await disk.read(buf.subarray(done, done + n), m.dev)
        done += n
      }
    },
  }
}

/** Reads `n` bytes at `offset`; a helper for readers that want a fresh buffer. */
export async function readAt(vol: VolumeReader, offset: number, n: number): Promise<Buffer> {
  if (!Number.isSafeInteger(n) || n < 0 || n > 64 << 20) throw new TrimSkip(`refusing a ${n}-byte metadata read`)
  const b = Buffer.alloc(n)
  await vol.read(b, offset)
  return b
}
