// src/format/: the VMA format itself, byte by byte (spec/vma-format.md): the
// header and its blob buffer, extent headers, the streaming parser and its
// sink interface, uuid, ctime, safe names, `vma list` text, and the cluster
// tracker that checks a stream of clusters against the header. No I/O.
//
// The archive header: a fixed 12288-byte struct (big-endian fields) followed
// by the blob buffer, padded up to header_size. decode() applies the checks
// of Proxmox's reader in Proxmox's order, then ours; encode() writes the
// canonical form (spec/optimized-form.md).

import { createHash } from 'node:crypto'
import { BlobTable, BlobWriter } from './blob-buffer.js'
import { CONFIG_SLOTS, DELTA_VERSION, DELTA_VERSION_1, DEVICE_SLOTS, HEADER_FIXED_SIZE, MAX_DEV_ID, MAX_HEADER_SIZE, VMA_MAGIC, VMA_VERSION } from './constants.js'
import { VmaError } from '../util/errors.js'
import { formatUuid } from './uuid.js'

// Field offsets in the fixed part.
const OFF_MAGIC = 0 //           4  "VMA\0"
const OFF_VERSION = 4 //         u32 BE, must be 1
const OFF_UUID = 8 //            16 raw bytes
const OFF_CTIME = 24 //          i64 BE, Unix seconds
const OFF_MD5 = 32 //            16 bytes, md5 of [0, header_size) with this field zeroed
const OFF_BLOB_OFFSET = 48 //    u32 BE, absolute offset of the blob buffer
const OFF_BLOB_SIZE = 52 //      u32 BE, used bytes of the blob buffer
const OFF_HEADER_SIZE = 56 //    u32 BE, where extent 0 starts
// Only in a delta (version DELTA_VERSION), in what is reserved space in an archive:
const OFF_DELTA_BASE = 60 //     u32 BE blob pointer: identity of the archive the delta applies to
const OFF_DELTA_TARGET = 64 //   u32 BE blob pointer: identity of the archive it reproduces
const OFF_CONFIG_NAMES = 2044 // 256 x u32 BE blob pointers
const OFF_CONFIG_DATA = 3068 //  256 x u32 BE blob pointers
const OFF_DEV_INFO = 4096 //     256 x 32-byte device records
// Device record: +0 u32 BE name pointer, +8 u64 BE size in bytes; the rest reserved.
const DEV_INFO_SIZE = 32

/** Largest device size we accept: 2^32 clusters of 64 KiB (Proxmox's writer limit). */
export const MAX_DEVICE_SIZE = 2 ** 48

export interface VmaConfig {
  slot: number
  name: string
  data: Buffer
}

export interface VmaDevice {
  id: number
  name: string
  size: number
}

/** The two identity blobs of a delta, as stored (decoded by delta-identity). */
export interface DeltaBlobs {
  base: Uint8Array
  target: Uint8Array
  /** DLT2: every extent header is followed by a check sector (false for a DLT1 delta, and when writing a DLT1 one). */
  checked: boolean
}

export interface HeaderFields {
  uuid: Buffer
  /** Seconds since 1970; a bigint carries a header's value exactly, whatever its size. */
  ctime: number | bigint
  configs: { name: string; data: Uint8Array }[]
  devices: { id: number; name: string; size: number }[]
  /** Makes it a delta header (spec/delta-format.md). */
  delta?: DeltaBlobs
}

export class VmaHeader {
  uuid!: Buffer
  /** Seconds since 1970 (time_t, signed); approximate beyond 2^53, where ctimeRaw is exact. */
  ctime!: number
  /** The field exactly: what a rewrite copies and what `vma list` prints. */
  ctimeRaw!: bigint
  version!: number
  md5!: Buffer
  blobBufferOffset!: number
  blobBufferSize!: number
  headerSize!: number
  configs: VmaConfig[] = []
  /** Devices indexed by id; undefined for empty slots. */
  devices: (VmaDevice | undefined)[] = []
  /** The raw header bytes as read, for callers that compare or copy them. */
  raw!: Buffer
  /** Set when this is a vma-opt delta rather than an archive. */
  delta?: DeltaBlobs

  get uuidString(): string {
    return formatUuid(this.uuid)
  }

  /** Devices in id order. */
  get deviceList(): VmaDevice[] {
    return this.devices.filter((d): d is VmaDevice => d !== undefined)
  }

  /**
   * Checks the first bytes of the fixed part and returns header_size, so a
   * streaming reader knows how much more to buffer. Needs 60 bytes.
   */
  static headerSizeOf(fixed: Uint8Array): number {
    const b = Buffer.from(fixed.buffer, fixed.byteOffset, fixed.length)
    VmaHeader.checkMagic(b)
    const size = b.readUInt32BE(OFF_HEADER_SIZE)
    if (size <= HEADER_FIXED_SIZE) {
      throw new VmaError('VMA_HEADER_SIZE', OFF_HEADER_SIZE, `header_size ${size} is not above ${HEADER_FIXED_SIZE}`, 'header')
    }
    if (size > MAX_HEADER_SIZE) {
      throw new VmaError('VMA_HEADER_SIZE', OFF_HEADER_SIZE, `header_size ${size} exceeds the limit of ${MAX_HEADER_SIZE}`, 'header')
    }
    return size
  }

  /** Throws VMA_BAD_MAGIC unless the first 4 bytes (or as many as given) are "VMA\0". */
  static checkMagic(start: Uint8Array): void {
    const n = Math.min(4, start.length)
    if (Buffer.compare(start.subarray(0, n), VMA_MAGIC.subarray(0, n)) !== 0) {
      const hex = Buffer.from(start.subarray(0, n)).toString('hex')
      throw new VmaError('VMA_BAD_MAGIC', 0, `not a VMA archive (starts with ${hex}, expected 564d4100)`, 'header')
    }
  }

  static decode(buf: Buffer): VmaHeader {
    const headerSize = VmaHeader.headerSizeOf(buf)
    if (buf.length < headerSize) {
      throw new VmaError('VMA_HEADER_TRUNCATED', buf.length, `header is ${headerSize} bytes but only ${buf.length} are present`, 'header')
    }
    const h = new VmaHeader()
    h.raw = buf.subarray(0, headerSize)
    h.headerSize = headerSize
    h.md5 = Buffer.from(buf.subarray(OFF_MD5, OFF_MD5 + 16))
    const actual = headerMd5(h.raw)
    if (!actual.equals(h.md5)) {
      throw new VmaError('VMA_HEADER_MD5', OFF_MD5, `md5 mismatch (stored ${h.md5.toString('hex')}, computed ${actual.toString('hex')})`, 'header')
    }
    h.version = buf.readUInt32BE(OFF_VERSION)
    if (h.version !== VMA_VERSION && h.version !== DELTA_VERSION && h.version !== DELTA_VERSION_1) {
      throw new VmaError('VMA_BAD_VERSION', OFF_VERSION, `version ${h.version} is not supported (only ${VMA_VERSION})`, 'header')
    }
    h.uuid = Buffer.from(buf.subarray(OFF_UUID, OFF_UUID + 16))
    h.ctimeRaw = buf.readBigInt64BE(OFF_CTIME)
    h.ctime = Number(h.ctimeRaw)
    h.blobBufferOffset = buf.readUInt32BE(OFF_BLOB_OFFSET)
    h.blobBufferSize = buf.readUInt32BE(OFF_BLOB_SIZE)
    if (h.blobBufferOffset < HEADER_FIXED_SIZE) {
      throw new VmaError('VMA_BLOB_OFFSET', OFF_BLOB_OFFSET, `blob_buffer_offset ${h.blobBufferOffset} lies inside the fixed header (below ${HEADER_FIXED_SIZE})`, 'header')
    }
    if (h.blobBufferOffset + h.blobBufferSize > headerSize) {
      throw new VmaError('VMA_BLOB_SIZE', OFF_BLOB_SIZE, `blob buffer (offset ${h.blobBufferOffset}, size ${h.blobBufferSize}) runs past header_size ${headerSize}`, 'header')
    }
    const blobs = new BlobTable(buf.subarray(h.blobBufferOffset, h.blobBufferOffset + h.blobBufferSize))

    for (let id = 1; id < DEVICE_SLOTS; id++) {
      const rec = OFF_DEV_INFO + id * DEV_INFO_SIZE
      const namePtr = buf.readUInt32BE(rec)
      const size = Number(buf.readBigUInt64BE(rec + 8))
      const name = blobs.string(namePtr)
      // Proxmox's rule: a slot holds a device only with a size and a valid name.
      if (size === 0 || name === undefined) continue
      if (size > MAX_DEVICE_SIZE) {
        throw new VmaError('VMA_DEVICE_SIZE', rec + 8, `device ${id} size ${size} exceeds 2^32 clusters`, 'header')
      }
      if (id > MAX_DEV_ID) {
        throw new VmaError('VMA_DEVICE_255', rec, `device id ${id} is used, but Proxmox tools only handle ids 1 to ${MAX_DEV_ID}`, 'header')
      }
      h.devices[id] = { id, name, size }
    }

    for (let slot = 0; slot < CONFIG_SLOTS; slot++) {
      const namePtr = buf.readUInt32BE(OFF_CONFIG_NAMES + slot * 4)
      const dataPtr = buf.readUInt32BE(OFF_CONFIG_DATA + slot * 4)
      // Proxmox's rule: a slot is used only if both pointers are set.
      if (namePtr === 0 || dataPtr === 0) continue
      const name = blobs.string(namePtr)
      const data = blobs.data(dataPtr)
      if (name === undefined || data === undefined) {
        const bad = name === undefined ? OFF_CONFIG_NAMES + slot * 4 : OFF_CONFIG_DATA + slot * 4
        throw new VmaError('VMA_BAD_POINTER', bad, `config slot ${slot} points outside the blob chain (name ${namePtr}, data ${dataPtr})`, 'header')
      }
      h.configs.push({ slot, name, data })
    }
    if (h.version === DELTA_VERSION || h.version === DELTA_VERSION_1) {
      const base = blobs.data(buf.readUInt32BE(OFF_DELTA_BASE))
      const target = blobs.data(buf.readUInt32BE(OFF_DELTA_TARGET))
      if (!base) throw new VmaError('VMA_BAD_POINTER', OFF_DELTA_BASE, 'the delta header does not point to its base identity', 'header')
      if (!target) throw new VmaError('VMA_BAD_POINTER', OFF_DELTA_TARGET, 'the delta header does not point to its target identity', 'header')
      h.delta = { base, target, checked: h.version === DELTA_VERSION }
    }
    return h
  }

  /**
   * The canonical header: blobs from offset 1 (each config's name then data,
   * then device names by id), exact blob_buffer_size, header_size = 12288 +
   * blob size rounded up to 512, zero padding, md5 over the whole.
   */
  static encode(f: HeaderFields): Buffer {
    const blobs = new BlobWriter()
    const configPtrs = f.configs.map(c => [blobs.addString(c.name), blobs.add(c.data)] as const)
    const devices = [...f.devices].sort((a, b) => a.id - b.id)
    const devPtrs = devices.map(d => blobs.addString(d.name))
    const deltaPtrs = f.delta && ([blobs.add(f.delta.base), blobs.add(f.delta.target)] as const)
    if (f.configs.length > CONFIG_SLOTS) throw new VmaError('VMA_BLOB_SIZE', -1, `${f.configs.length} configs do not fit ${CONFIG_SLOTS} slots`)
    const headerSize = HEADER_FIXED_SIZE + roundUp512(blobs.length)
    if (headerSize > MAX_HEADER_SIZE) {
      throw new VmaError('VMA_HEADER_SIZE', -1, `header of ${headerSize} bytes exceeds the limit of ${MAX_HEADER_SIZE}`)
    }
    const buf = Buffer.alloc(headerSize)
    VMA_MAGIC.copy(buf, OFF_MAGIC)
    buf.writeUInt32BE(!f.delta ? VMA_VERSION : f.delta.checked ? DELTA_VERSION : DELTA_VERSION_1, OFF_VERSION)
    f.uuid.copy(buf, OFF_UUID)
    buf.writeBigInt64BE(BigInt(f.ctime), OFF_CTIME)
    buf.writeUInt32BE(HEADER_FIXED_SIZE, OFF_BLOB_OFFSET)
    buf.writeUInt32BE(blobs.length, OFF_BLOB_SIZE)
    buf.writeUInt32BE(headerSize, OFF_HEADER_SIZE)
    if (deltaPtrs) {
      buf.writeUInt32BE(deltaPtrs[0], OFF_DELTA_BASE)
      buf.writeUInt32BE(deltaPtrs[1], OFF_DELTA_TARGET)
    }
    configPtrs.forEach(([n, d], slot) => {
      buf.writeUInt32BE(n, OFF_CONFIG_NAMES + slot * 4)
      buf.writeUInt32BE(d, OFF_CONFIG_DATA + slot * 4)
    })
    devices.forEach((d, i) => {
      if (d.id < 1 || d.id > MAX_DEV_ID) throw new VmaError('VMA_DEVICE_255', -1, `device id ${d.id} is outside 1..${MAX_DEV_ID}`)
      const rec = OFF_DEV_INFO + d.id * DEV_INFO_SIZE
      buf.writeUInt32BE(devPtrs[i]!, rec)
      buf.writeBigUInt64BE(BigInt(d.size), rec + 8)
    })
    blobs.toBuffer().copy(buf, HEADER_FIXED_SIZE)
    headerMd5(buf).copy(buf, OFF_MD5)
    return buf
  }
}

/** md5 of the header with its md5 field taken as zeros. */
export function headerMd5(header: Uint8Array): Buffer {
  return createHash('md5')
    .update(header.subarray(0, OFF_MD5))
    .update(Buffer.alloc(16))
    .update(header.subarray(OFF_MD5 + 16))
    .digest()
}

export function roundUp512(n: number): number {
  return Math.ceil(n / 512) * 512
}
