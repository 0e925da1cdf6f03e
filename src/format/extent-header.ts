// The 512-byte extent header and its 59 blockinfo slots. The md5 covers only
// these 512 bytes (with the md5 field zeroed), never the data that follows.

import * as crypto from 'node:crypto'
import { BLOCK_SIZE, EXTENT_HEADER_SIZE, EXTENT_MAGIC, SLOTS_PER_EXTENT } from './constants.js'
import { VmaError } from '../util/errors.js'

const OFF_MAGIC = 0 //        4   "VMAE"
const OFF_RESERVED = 4 //     u16 BE, must be 0
const OFF_BLOCK_COUNT = 6 //  u16 BE, 4 KiB data blocks after this header
const OFF_UUID = 8 //         16  must equal the archive uuid
const OFF_MD5 = 24 //         16  md5 of these 512 bytes with this field zeroed
/** Where the md5 sits in an extent header. */
export const EXTENT_MD5_OFFSET = OFF_MD5
const OFF_BLOCKINFO = 40 //   59 x u64 BE: mask u16 | reserved u8 | dev_id u8 | cluster u32
const BLOCKINFO_SIZE = 8

/** Number of set bits in a 16-bit mask: the 4 KiB blocks stored for a cluster. */
export function popcount16(m: number): number {
  m = m - ((m >> 1) & 0x5555)
  m = (m & 0x3333) + ((m >> 2) & 0x3333)
  m = (m + (m >> 4)) & 0x0f0f
  return (m + (m >> 8)) & 0x1f
}

/**
 * A decoded extent header. The non-empty slots are kept in parallel typed
 * arrays (in slot order, empty slots skipped) so one instance can be reused
 * for every extent of an archive without allocating.
 */
export class ExtentHeader {
  blockCount = 0
  /** Non-empty slots in this extent. */
  count = 0
  readonly masks = new Uint16Array(SLOTS_PER_EXTENT)
  readonly devIds = new Uint8Array(SLOTS_PER_EXTENT)
  readonly clusters = new Uint32Array(SLOTS_PER_EXTENT)
  /** Slot index (0..58) of each entry, for error messages. */
  readonly slots = new Uint8Array(SLOTS_PER_EXTENT)

  /** Bytes this extent takes in the file, header included. */
  get size(): number {
    return EXTENT_HEADER_SIZE + this.blockCount * BLOCK_SIZE
  }

  /**
   * Decodes and checks 512 bytes at `buf[pos..]` that sit at `fileOffset` in
   * the archive. Checks in Proxmox's order: md5, uuid, magic and reserved
   * field, then that block_count matches the masks.
   */
  decode(buf: Uint8Array, pos: number, fileOffset: number, uuid: Uint8Array): this {
    const b = Buffer.from(buf.buffer, buf.byteOffset + pos, EXTENT_HEADER_SIZE)
    const stored = b.subarray(OFF_MD5, OFF_MD5 + 16)
    const actual = extentMd5(b)
    if (!actual.equals(stored)) {
      throw new VmaError('VMA_EXTENT_MD5', fileOffset, `md5 mismatch (stored ${stored.toString('hex')}, computed ${actual.toString('hex')})`, 'extent')
    }
    if (Buffer.compare(b.subarray(OFF_UUID, OFF_UUID + 16), uuid) !== 0) {
      throw new VmaError('VMA_EXTENT_UUID', fileOffset, `uuid ${b.subarray(OFF_UUID, OFF_UUID + 16).toString('hex')} differs from the archive's`, 'extent')
    }
    if (Buffer.compare(b.subarray(OFF_MAGIC, OFF_MAGIC + 4), EXTENT_MAGIC) !== 0) {
      throw new VmaError('VMA_EXTENT_MAGIC', fileOffset, `bad extent magic ${b.subarray(0, 4).toString('hex')} (expected 564d4145)`, 'extent')
    }
    const reserved = b.readUInt16BE(OFF_RESERVED)
    if (reserved !== 0) {
      throw new VmaError('VMA_EXTENT_RESERVED', fileOffset + OFF_RESERVED, `reserved field is ${reserved}, must be 0`, 'extent')
    }
    this.blockCount = b.readUInt16BE(OFF_BLOCK_COUNT)
    let n = 0
    let blocks = 0
    for (let slot = 0; slot < SLOTS_PER_EXTENT; slot++) {
      const o = OFF_BLOCKINFO + slot * BLOCKINFO_SIZE
      const dev = b[o + 3]!
      if (dev === 0) continue // empty slot, wherever it sits
      const mask = b.readUInt16BE(o)
      this.masks[n] = mask
      this.devIds[n] = dev
      this.clusters[n] = b.readUInt32BE(o + 4)
      this.slots[n] = slot
      blocks += popcount16(mask)
      n++
    }
    this.count = n
    if (blocks !== this.blockCount) {
      throw new VmaError('VMA_BLOCK_COUNT', fileOffset + OFF_BLOCK_COUNT, `block_count is ${this.blockCount} but the masks of its ${n} clusters need ${blocks} blocks`, 'extent')
    }
    return this
  }

  /** File offset of blockinfo slot `slot` in an extent at `extentOffset`. */
  static slotOffset(extentOffset: number, slot: number): number {
    return extentOffset + OFF_BLOCKINFO + slot * BLOCKINFO_SIZE
  }

  /**
   * Writes a complete 512-byte extent header at out[pos..] for `n` entries
   * taken from the given arrays, slots filled from 0 with no holes.
   * `md5` false leaves the md5 field zero (for comparing with a header
   * whose md5 is already checked: the rest being equal, so is the md5).
   */
  static encode(out: Buffer, pos: number, uuid: Uint8Array, n: number, masks: ArrayLike<number>, devIds: ArrayLike<number>, clusters: ArrayLike<number>, md5 = true): void {
    if (n > SLOTS_PER_EXTENT) throw new RangeError(`${n} clusters do not fit one extent`)
    const b = out.subarray(pos, pos + EXTENT_HEADER_SIZE)
    b.fill(0)
    EXTENT_MAGIC.copy(b, OFF_MAGIC)
    let blocks = 0
    for (let i = 0; i < n; i++) {
      const o = OFF_BLOCKINFO + i * BLOCKINFO_SIZE
      b.writeUInt16BE(masks[i]!, o)
      b[o + 3] = devIds[i]!
      b.writeUInt32BE(clusters[i]!, o + 4)
      blocks += popcount16(masks[i]!)
    }
    b.writeUInt16BE(blocks, OFF_BLOCK_COUNT)
    b.set(uuid, OFF_UUID)
    if (md5) extentMd5(b).copy(b, OFF_MD5)
  }
}

// Every extent header is hashed (tens of thousands at serve's start-up): one
// reused copy with the md5 field zeroed and Node's one-shot hash, half the
// cost of a Hash object per header (Node < 20.12 lacks crypto.hash).
const md5Scratch = Buffer.alloc(EXTENT_HEADER_SIZE)
const oneShot = (crypto as { hash?: (alg: string, data: Uint8Array, enc: 'buffer') => Buffer }).hash

export function extentMd5(header: Uint8Array): Buffer {
  md5Scratch.set(header.subarray(0, EXTENT_HEADER_SIZE))
  md5Scratch.fill(0, OFF_MD5, OFF_MD5 + 16)
  return oneShot ? oneShot('md5', md5Scratch, 'buffer') : crypto.createHash('md5').update(md5Scratch).digest()
}
