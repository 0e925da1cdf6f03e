// One data stream of a file ($DATA, unnamed or named, or an index's
// allocation): its segments (one per MFT record when an attribute list
// spreads it) joined into one runlist, and reads of its bytes straight into
// the caller's buffer. Holes and bytes past the initialized size read as
// zeros; compressed streams are read a compression unit at a time.

import type { Attribute, Run } from '../../trim/ntfs/ntfs-attribute.js'
import { ensure } from '../../trim/ntfs/ntfs-skip.js'
import { findRun } from '../../trim/ntfs/ntfs-volume.js'
import type { VolumeReader } from '../../trim/volume.js'
import type { FileRun } from '../guest-fs.js'
import { lznt1Decompress } from './ntfs-lznt1.js'

/** Attribute flags (0x0C). */
export const ATTR_FLAG = { compressed: 0x00ff, encrypted: 0x4000, sparse: 0x8000 } as const

/** The only compression unit NTFS writes: 16 clusters (log2 = 4), with clusters of at most 4 KiB. */
const UNIT_LOG2 = 4
const MAX_COMPRESSED_CLUSTER = 4096

export interface DataStream {
  name: string
  flags: number
  /** The value of a resident stream. */
  resident?: Buffer
  dataSize: number
  initializedSize: number
  /** Joined runlist, contiguous from VCN 0 (empty for a resident stream). */
  runs: Run[]
  /** Clusters per compression unit; 0 when the stream is not compressed. */
  unit: number
}

/**
 * Joins the segments of one stream (all attributes of one type and name,
 * from the base and extension records). Throws NtfsSkip when they do not
 * chain: a segment must start where the previous one ended, so a segment met
 * twice (a loop through the attribute list) or a gap is damage.
 */
export function joinSegments(segments: Attribute[], clusterSize: number, what: string): DataStream {
  const first = segments[0]
  ensure(first !== undefined, `${what} is missing`)
  if (first.resident) {
    ensure(segments.length === 1, `${what}: a resident stream has ${segments.length} parts`)
    const size = first.value.length
    return { name: first.name, flags: first.flags, resident: first.value, dataSize: size, initializedSize: size, runs: [], unit: 0 }
  }
  const parts = segments.map(s => {
    ensure(!s.resident, `${what}: resident and non-resident parts mixed`)
    return s
  })
  parts.sort((a, b) => a.lowestVcn - b.lowestVcn)
  const head = parts[0]!
  ensure(head.lowestVcn === 0, `${what}: no segment starts at VCN 0`)
  const runs: Run[] = []
  let next = 0
  for (const p of parts) {
    ensure(p.lowestVcn === next, () =>
      p.lowestVcn < next ? `${what}: segment at VCN ${p.lowestVcn} overlaps the previous one (a loop in the attribute list?)` : `${what}: VCNs ${next}..${p.lowestVcn - 1} are in no segment`,
    )
    for (const r of p.runs) runs.push(r)
    next = p.lowestVcn + p.runs.reduce((n, r) => n + r.length, 0)
  }
  ensure(next * clusterSize >= head.allocatedSize, `${what}: runlist maps ${next} clusters, less than the allocated size ${head.allocatedSize}`)
  let unit = 0
  if ((head.flags & ATTR_FLAG.compressed) !== 0 && head.compressionUnit !== 0) {
    ensure(head.compressionUnit === UNIT_LOG2, `${what}: compression unit of 2^${head.compressionUnit} clusters not supported`)
    ensure(clusterSize <= MAX_COMPRESSED_CLUSTER, `${what}: compressed with ${clusterSize}-byte clusters not supported`)
    unit = 1 << UNIT_LOG2
  }
  return { name: head.name, flags: head.flags, dataSize: head.dataSize, initializedSize: head.initializedSize, runs, unit }
}

/** Bytes on the volume the stream's clusters take (holes take none; resident data takes none). */
export const allocatedBytes = (s: DataStream, clusterSize: number) => s.runs.reduce((n, r) => n + (r.lcn === undefined ? 0 : r.length * clusterSize), 0)

/** Reads a stream of one volume; `clusterSize` from the boot sector. */
export class StreamReader {
  constructor(
    readonly vol: VolumeReader,
    readonly clusterSize: number,
  ) {}

  /** Fills `buf` from stream offset `offset`; returns the bytes filled, fewer only at the end of the stream. */
  async read(s: DataStream, offset: number, buf: Buffer): Promise<number> {
    const n = Math.max(0, Math.min(buf.length, s.dataSize - offset))
    if (n === 0) return 0
    const out = buf.subarray(0, n)
    if (s.resident) s.resident.copy(out, 0, offset, offset + n)
    else if (s.unit) await this.readCompressed(s, offset, out)
    else await this.readPlain(s, offset, out)
    return n
  }

  /** Clusters through the runlist; holes and the part past the initialized size as zeros. */
  private async readPlain(s: DataStream, offset: number, out: Buffer): Promise<void> {
    const cs = this.clusterSize
    const readable = Math.max(0, Math.min(out.length, s.initializedSize - offset))
    out.fill(0, readable)
    for (let done = 0; done < readable; ) {
      const pos = offset + done
      const vcn = Math.floor(pos / cs)
      const i = findRun(s.runs, vcn)
      ensure(i >= 0, () => `stream '${s.name}' byte ${pos} is not mapped by its runlist`)
      const run = s.runs[i]!
      const take = Math.min((run.vcn + run.length) * cs - pos, readable - done)
      const to = out.subarray(done, done + take)
      if (run.lcn === undefined) to.fill(0)
      else await this.vol.read(to, (run.lcn + vcn - run.vcn) * cs + (pos % cs))
      done += take
    }
  }

  /**
   * A compressed stream, unit by unit: a unit whose clusters are all stored
   * holds its bytes as they are; one with no stored cluster is zeros; one
   * with some stored clusters followed by holes holds LZNT1 chunks in those.
   */
  private async readCompressed(s: DataStream, offset: number, out: Buffer): Promise<void> {
    const cs = this.clusterSize
    const unitBytes = s.unit * cs
    let packed: Buffer | undefined
    let unpacked: Buffer | undefined
    const readable = Math.max(0, Math.min(out.length, s.initializedSize - offset))
    out.fill(0, readable)
    for (let done = 0; done < readable; ) {
      const pos = offset + done
      const u = Math.floor(pos / unitBytes)
      const inUnit = pos - u * unitBytes
      const take = Math.min(unitBytes - inUnit, readable - done)
      const stored = this.storedClusters(s, u)
      if (stored === 0) out.fill(0, done, done + take)
      else if (stored === s.unit) await this.readPlain({ ...s, unit: 0 }, pos, out.subarray(done, done + take))
      else {
        packed ??= Buffer.alloc(unitBytes)
        unpacked ??= Buffer.alloc(unitBytes)
        const src = packed.subarray(0, stored * cs)
        await this.readPlain({ ...s, unit: 0, initializedSize: Number.MAX_SAFE_INTEGER }, u * unitBytes, src)
        lznt1Decompress(src, unpacked, `stream '${s.name}' compression unit ${u} (stream offset ${u * unitBytes})`)
        unpacked.copy(out, done, inUnit, inUnit + take)
      }
      done += take
    }
  }

  /** Stored clusters at the start of compression unit `u`; throws NtfsSkip if a stored cluster follows a hole. */
  private storedClusters(s: DataStream, u: number): number {
    let stored = 0
    let hole = false
    for (let vcn = u * s.unit; vcn < (u + 1) * s.unit; ) {
      const i = findRun(s.runs, vcn)
      if (i < 0) break // past the runlist: the rest of the unit is not stored
      const r = s.runs[i]!
      const n = Math.min(r.vcn + r.length, (u + 1) * s.unit) - vcn
      if (r.lcn === undefined) hole = true
      else {
        ensure(!hole, () => `stream '${s.name}' compression unit ${u} has a stored cluster after a hole`)
        stored += n
      }
      vcn += n
    }
    return stored
  }

  /** The stream's runs over 0 .. dataSize: stored bytes are `data`, holes and the uninitialized tail are not. */
  *runs(s: DataStream): Generator<FileRun> {
    const cs = this.clusterSize
    const size = s.dataSize
    if (size === 0) return
    if (s.resident) {
      yield { offset: 0, length: size, data: true }
      return
    }
    const granule = s.unit ? s.unit * cs : cs
    let cur: FileRun | undefined
    const emit = function* (offset: number, end: number, data: boolean): Generator<FileRun> {
      const e = Math.min(end, size)
      if (e <= offset) return
      if (cur && cur.data === data && cur.offset + cur.length === offset) cur.length = e - cur.offset
      else {
        if (cur) yield cur
        cur = { offset, length: e - offset, data }
      }
    }
    let pos = 0
    for (const r of s.runs) {
      if (r.lcn === undefined) continue
      // A compressed unit with any stored cluster is data as a whole.
      const start = Math.floor((r.vcn * cs) / granule) * granule
      const end = Math.ceil(((r.vcn + r.length) * cs) / granule) * granule
      const from = Math.max(start, pos)
      const dataEnd = Math.min(end, s.initializedSize)
      yield* emit(pos, from, false)
      yield* emit(from, dataEnd, true)
      yield* emit(Math.max(from, dataEnd), end, false)
      pos = Math.max(pos, end)
      if (pos >= size) break
    }
    yield* emit(pos, size, false)
    if (cur) yield cur
  }
}
