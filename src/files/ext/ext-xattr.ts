// Extended attributes of an ext2/3/4 inode: in the inode after i_extra_isize
// (magic u32 0xEA020000, then entries; values placed relative to the first
// entry) and in one external block (i_file_acl):
//   block header (32 bytes): 0x00 h_magic 0xEA020000, 0x04 h_refcount, 0x08 h_blocks (1),
//                            0x0C h_hash, 0x10 h_checksum (metadata_csum), entries from 0x20
//   entry: 0x0 e_name_len u8, 0x1 e_name_index u8, 0x2 e_value_offs u16, 0x4 e_value_inum u32,
//          0x8 e_value_size u32, 0xC e_hash u32, 0x10 name; padded to 4 bytes; a zero u32 ends the list
// Every entry and value is bounded by its region (the inode's tail or the block).

import { crc32cRaw } from '../../trim/bytes/crc32c.js'
import { type ExtPlace, check, unsupported } from './ext-errors.js'
import type { ExtInode } from './ext-inode.js'
import type { ExtVolume } from './ext-volume.js'

export const XATTR_MAGIC = 0xea020000
/** e_name_index of system.data (inline data). */
export const INDEX_SYSTEM = 7

export interface RawXattr {
  index: number
  name: Buffer
  value: Buffer
}

/**
 * Parses the entries of one region: `entriesAt` .. `end` of `buf`, values at
 * `valueBase` + e_value_offs, never beyond `end`.
 */
function parseEntries(v: ExtVolume, ino: ExtInode, buf: Buffer, entriesAt: number, valueBase: number, end: number, p: ExtPlace, where: string, out: RawXattr[]): void {
  let o = entriesAt
  for (let n = 0; ; n++) {
    if (o + 4 > end || buf.readUInt32LE(o) === 0) return
    check(o + 16 <= end, p, where, `entry ${n} at byte ${o} runs past the region's end (${end})`)
    const nameLen = buf[o]!
    const index = buf[o + 1]!
    const valueOffs = buf.readUInt16LE(o + 2)
    const valueInum = buf.readUInt32LE(o + 4)
    const valueSize = buf.readUInt32LE(o + 8)
    check(o + 16 + nameLen <= end, p, where, `entry ${n}'s name runs past the region's end`)
    if (valueInum !== 0) throw unsupported(v.kind, ino.ino, `keeps the value of an extended attribute in inode ${valueInum} (ea_inode)`)
    check(valueBase + valueOffs + valueSize <= end, p, where, `entry ${n}'s value (${valueSize} bytes at ${valueOffs}) runs past the region's end`)
    out.push({ index, name: Buffer.from(buf.subarray(o + 16, o + 16 + nameLen)), value: Buffer.from(buf.subarray(valueBase + valueOffs, valueBase + valueOffs + valueSize)) })
    o += (16 + nameLen + 3) & ~3
  }
}

/** The attributes stored inside the inode record. */
export function inodeXattrs(v: ExtVolume, ino: ExtInode): RawXattr[] {
  const out: RawXattr[] = []
  const raw = ino.raw
  const at = ino.extraEnd
  if (raw.length <= 128 || at + 4 > raw.length || raw.readUInt32LE(at) !== XATTR_MAGIC) return out
  parseEntries(v, ino, raw, at + 4, at + 4, raw.length, { kind: v.kind, ino: ino.ino, offset: ino.offset + at }, 'in-inode extended attributes', out)
  return out
}

/** The attributes of the external block (none without one). */
export async function blockXattrs(v: ExtVolume, ino: ExtInode): Promise<RawXattr[]> {
  const out: RawXattr[] = []
  if (!ino.xattrBlock) return out
  const p: ExtPlace = { kind: v.kind, ino: ino.ino, offset: ino.xattrBlock * v.blockSize }
  const buf = await v.block({ ...p, offset: ino.offset + 0x68 }, 'extended-attribute block pointer', ino.xattrBlock)
  const magic = buf.readUInt32LE(0)
  check(magic === XATTR_MAGIC, p, 'extended-attribute block', `has magic 0x${magic.toString(16)}, not 0xea020000`)
  check(buf.readUInt32LE(8) === 1, p, 'extended-attribute block', `has h_blocks ${buf.readUInt32LE(8)}, not 1`)
  if (v.sb.metadataCsum) {
    const le64 = Buffer.alloc(8)
    le64.writeUInt32LE(ino.xattrBlock % 2 ** 32, 0)
    le64.writeUInt32LE(Math.floor(ino.xattrBlock / 2 ** 32), 4)
    let c = crc32cRaw(v.sb.seed, le64)
    c = crc32cRaw(c, buf, 0, 0x10)
    c = crc32cRaw(c, ZERO4)
    c = crc32cRaw(c, buf, 0x14, buf.length)
    check(c === buf.readUInt32LE(0x10), p, 'extended-attribute block', 'has a bad checksum (metadata_csum)')
  }
  parseEntries(v, ino, buf, 32, 0, buf.length, p, 'extended-attribute block', out)
  return out
}

const ZERO4 = new Uint8Array(4)
