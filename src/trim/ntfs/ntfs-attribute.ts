import type { MftRecord } from './ntfs-record.js'
import { NtfsSkip, ensure } from './ntfs-skip.js'

/** Attribute type codes the reader looks at. */
export const ATTR = {
  standardInformation: 0x10,
  attributeList: 0x20,
  fileName: 0x30,
  volumeName: 0x60,
  volumeInformation: 0x70,
  data: 0x80,
  indexRoot: 0x90,
  indexAllocation: 0xa0,
  bitmap: 0xb0,
  reparsePoint: 0xc0,
  end: 0xffffffff,
} as const

/** Attribute flags (0x0C) that change how a stream's clusters map to its bytes. */
const FLAG_COMPRESSED = 0x00ff
const FLAG_ENCRYPTED = 0x4000
const FLAG_SPARSE = 0x8000

/** One extent of a non-resident stream: `length` clusters from `lcn`, or a hole (`lcn` undefined). */
export interface Run {
  vcn: number
  lcn: number | undefined
  length: number
}

export type Attribute = { type: number; name: string; flags: number } & (
  | { resident: true; value: Buffer }
  | {
      resident: false
      dataSize: number
      initializedSize: number
      allocatedSize: number
      runs: Run[]
      /** First VCN this segment maps (above 0 only for a continued segment, see AttributeOptions). */
      lowestVcn: number
      /** log2 of the compression unit in clusters (0x22), 0 when not compressed. */
      compressionUnit: number
    }
)

/**
 * How far a stream may reach. The trim reads metadata files, which lie inside
 * the volume; the file reader (files/ntfs) also reads user files, whose holes
 * may take a sparse file past the volume's size and whose streams may be split
 * over several MFT records (an attribute list): it passes both options.
 */
export interface AttributeOptions {
  /** Largest VCN count a stream may map, holes included (default: the volume's clusters). */
  maxVcns?: number
  /** Accept segments starting above VCN 0; their sizes are not checked (only the first segment's are valid). */
  continued?: boolean
}

/** Reads a little-endian integer of `n` (0..8) bytes at `p`, signed or not, as a bigint. */
function readVarInt(buf: Buffer, p: number, n: number, signed: boolean): bigint {
  let v = 0n
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[p + i]!)
  if (signed && n > 0 && buf[p + n - 1]! & 0x80) v -= 1n << BigInt(8 * n)
  return v
}

/**
 * Decodes a runlist (mapping pairs) in buf[p, end): each run is a header byte
 * (low nibble: bytes of the length, high nibble: bytes of the LCN delta, 0 = hole),
 * the length, then the LCN relative to the previous run's. Every run must lie
 * inside the volume's `clusters`. The loop is bounded by `end` (each run takes
 * at least two bytes).
 */
export function decodeRunlist(buf: Buffer, p: number, end: number, clusters: number, what: string, maxVcns = clusters, firstVcn = 0): Run[] {
  const runs: Run[] = []
  let vcn = firstVcn
  let lcn = 0n
  while (true) {
    ensure(p < end, `${what}: runlist runs past its attribute`)
    const header = buf[p++]!
    if (header === 0) return runs
    const lenBytes = header & 0x0f
    const lcnBytes = header >> 4
    ensure(lenBytes >= 1 && lenBytes <= 8 && lcnBytes <= 8 && p + lenBytes + lcnBytes <= end, `${what}: runlist entry malformed`)
    const length = readVarInt(buf, p, lenBytes, true)
    p += lenBytes
    ensure(length > 0n && length <= BigInt(lcnBytes > 0 ? clusters : maxVcns), `${what}: run length ${length} out of range`)
    const run: Run = { vcn, lcn: undefined, length: Number(length) }
    if (lcnBytes > 0) {
      lcn += readVarInt(buf, p, lcnBytes, true)
      p += lcnBytes
      ensure(lcn >= 0n && lcn + length <= BigInt(clusters), `${what}: run at cluster ${lcn} (+${length}) is outside the volume`)
      run.lcn = Number(lcn)
    }
    runs.push(run)
    vcn += run.length
    ensure(vcn <= maxVcns, `${what}: runlist maps more clusters than the volume has`)
  }
}

function readName(rec: Buffer, off: number, len: number): string {
  const nameLength = rec[off + 0x09]! // 0x09 name length (UTF-16 units)
  const nameOffset = rec.readUInt16LE(off + 0x0a) // 0x0A name offset
  if (nameLength === 0) return ''
  ensure(nameOffset + 2 * nameLength <= len, 'attribute name outside its attribute')
  return rec.toString('utf16le', off + nameOffset, off + nameOffset + 2 * nameLength)
}

function readResident(rec: Buffer, off: number, len: number, what: string): Buffer {
  const valueLength = rec.readUInt32LE(off + 0x10) // 0x10 value length
  const valueOffset = rec.readUInt16LE(off + 0x14) // 0x14 value offset
  ensure(valueOffset >= 0x18 && valueOffset + valueLength <= len, `${what}: resident value outside its attribute`)
  return rec.subarray(off + valueOffset, off + valueOffset + valueLength)
}

function readNonResident(rec: Buffer, off: number, len: number, clusters: number, clusterSize: number, what: string, opts: AttributeOptions) {
  ensure(len >= 0x40, `${what}: non-resident header too short`)
  const lowestVcn = rec.readBigUInt64LE(off + 0x10) // 0x10 lowest VCN
  const highestVcn = rec.readBigInt64LE(off + 0x18) // 0x18 highest VCN (-1 for an empty stream)
  const runsOffset = rec.readUInt16LE(off + 0x20) // 0x20 mapping pairs offset
  const allocatedSize = rec.readBigUInt64LE(off + 0x28) // 0x28 allocated size
  const dataSize = rec.readBigUInt64LE(off + 0x30) // 0x30 data size
  const initializedSize = rec.readBigUInt64LE(off + 0x38) // 0x38 initialized size
  const compressionUnit = rec[off + 0x22]! // 0x22 compression unit (log2 clusters)
  const maxVcns = opts.maxVcns ?? clusters
  const volumeBytes = BigInt(maxVcns) * BigInt(clusterSize)
  // A stream split over several records (attribute list) starts at a lowest VCN above 0.
  ensure(lowestVcn === 0n || (opts.continued === true && lowestVcn <= BigInt(maxVcns)), `${what} is continued in another MFT record (lowest VCN ${lowestVcn})`)
  ensure(runsOffset >= 0x40 && runsOffset < len, `${what}: runlist offset out of range`)
  if (lowestVcn === 0n) ensure(dataSize <= allocatedSize && initializedSize <= dataSize && allocatedSize <= volumeBytes, `${what}: sizes inconsistent or larger than the volume`)
  const runs = decodeRunlist(rec, off + runsOffset, off + len, clusters, what, maxVcns, Number(lowestVcn))
  const mapped = runs.reduce((n, r) => n + r.length, 0)
  ensure(BigInt(mapped) === highestVcn + 1n - lowestVcn, `${what}: runlist maps ${mapped} clusters, header says ${highestVcn + 1n - lowestVcn}`)
  // A stream continued in other records maps only part of its allocation here: the joined runlist is checked instead.
  if (lowestVcn === 0n && opts.continued !== true) ensure(BigInt(mapped) * BigInt(clusterSize) >= allocatedSize, `${what}: runlist shorter than the allocated size`)
  const sizes =
    lowestVcn === 0n ? { dataSize: Number(dataSize), initializedSize: Number(initializedSize), allocatedSize: Number(allocatedSize) } : { dataSize: 0, initializedSize: 0, allocatedSize: 0 }
  return { ...sizes, runs, lowestVcn: Number(lowestVcn), compressionUnit }
}

/**
 * The attributes of one MFT record, in order. Bounded by the record's used size
 * (each attribute takes at least 24 bytes). `clusters`/`clusterSize` bound the runlists.
 */
export function readAttributes(record: MftRecord, clusters: number, clusterSize: number, opts: AttributeOptions = {}): Attribute[] {
  const rec = record.buf
  const out: Attribute[] = []
  let off = record.attrsOffset
  while (true) {
    ensure(off + 4 <= record.usedSize, `MFT record ${record.number}: attributes run past the used size`)
    const type = rec.readUInt32LE(off) // 0x00 type
    if (type === ATTR.end) return out
    ensure(off + 0x18 <= record.usedSize, `MFT record ${record.number}: attribute header cut off`)
    const len = rec.readUInt32LE(off + 0x04) // 0x04 length
    const what = `MFT record ${record.number} attribute 0x${type.toString(16)}`
    ensure(len >= 0x18 && len % 8 === 0 && off + len <= record.usedSize, `${what}: length ${len} invalid`)
    const nonResident = rec[off + 0x08]! // 0x08 non-resident flag
    ensure(nonResident <= 1, `${what}: non-resident flag ${nonResident}`)
    const flags = rec.readUInt16LE(off + 0x0c) // 0x0C flags
    const name = readName(rec, off, len)
    if (nonResident) out.push({ type, name, flags, resident: false, ...readNonResident(rec, off, len, clusters, clusterSize, what, opts) })
    else out.push({ type, name, flags, resident: true, value: readResident(rec, off, len, what) })
    off += len
  }
}

/** The one attribute of `type` named `name`; skip if there is none or more than one. */
export function findAttribute(attrs: Attribute[], type: number, name: string, what: string): Attribute {
  const found = attrs.filter(a => a.type === type && a.name === name)
  ensure(found.length === 1, `${what}: ${found.length} attributes of type 0x${type.toString(16)}${name ? ` '${name}'` : ''}`)
  return found[0]!
}

/**
 * The unnamed $DATA of a metadata file whose clusters must be known exactly:
 * no attribute list, not compressed, encrypted or sparse, no holes.
 */
export function plainData(attrs: Attribute[], what: string): Attribute {
  if (attrs.some(a => a.type === ATTR.attributeList)) throw new NtfsSkip(`${what} has an $ATTRIBUTE_LIST (not handled)`)
  const data = findAttribute(attrs, ATTR.data, '', what)
  ensure((data.flags & (FLAG_COMPRESSED | FLAG_ENCRYPTED | FLAG_SPARSE)) === 0, `${what}: $DATA is compressed, encrypted or sparse`)
  if (!data.resident)
    ensure(
      data.runs.every(r => r.lcn !== undefined),
      `${what}: $DATA has a hole`,
    )
  return data
}
