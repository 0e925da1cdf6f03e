import { applyFixups } from './ntfs-fixup.js'
import { ensure } from './ntfs-skip.js'

/** Record numbers of the metadata files the reader uses. */
export const MFT_RECORD = { mft: 0, mftMirr: 1, logFile: 2, volume: 3, root: 5, bitmap: 6 } as const

/** The header of one MFT record (FILE record segment), after its fixups were applied. */
export interface MftRecord {
  number: number
  /** The record with fixups applied. */
  buf: Buffer
  sequence: number
  inUse: boolean
  isDirectory: boolean
  /** Offset of the first attribute. */
  attrsOffset: number
  /** Bytes of the record in use: attributes end before this. */
  usedSize: number
  /** MFT reference of the base record; 0 for a base record. */
  baseRecord: bigint
}

/** Checks the header of MFT record `number` (raw bytes in `buf`, `buf.length` = record size), applies its fixups and decodes it. */
export function readMftRecord(buf: Buffer, number: number): MftRecord {
  const what = `MFT record ${number}`
  const magic = buf.toString('latin1', 0, 4) // 0x00 'FILE'
  ensure(magic !== 'BAAD', `${what} is marked BAAD (damaged)`)
  ensure(magic === 'FILE', `${what} has no FILE signature`)
  applyFixups(buf, what)
  const sequence = buf.readUInt16LE(0x10) // 0x10 sequence number
  const attrsOffset = buf.readUInt16LE(0x14) // 0x14 first attribute offset
  const flags = buf.readUInt16LE(0x16) // 0x16 flags: 0x1 in use, 0x2 directory
  const usedSize = buf.readUInt32LE(0x18) // 0x18 bytes in use
  const allocatedSize = buf.readUInt32LE(0x1c) // 0x1C allocated size (= record size)
  const baseRecord = buf.readBigUInt64LE(0x20) // 0x20 base record reference
  ensure(allocatedSize === buf.length, `${what}: allocated size ${allocatedSize} is not the record size ${buf.length}`)
  ensure(usedSize <= buf.length && usedSize >= 0x18, `${what}: used size ${usedSize} out of range`)
  ensure(attrsOffset % 8 === 0 && attrsOffset >= 0x30 && attrsOffset + 8 <= usedSize, `${what}: first attribute offset ${attrsOffset} out of range`)
  // NTFS 3.1 records carry their own number at 0x2C (the array then starts at 0x30).
  if (buf.readUInt16LE(0x04) >= 0x30) ensure(buf.readUInt32LE(0x2c) === number % 2 ** 32, `${what} says it is record ${buf.readUInt32LE(0x2c)}`)
  return { number, buf, sequence, inUse: (flags & 1) !== 0, isDirectory: (flags & 2) !== 0, attrsOffset, usedSize, baseRecord }
}
