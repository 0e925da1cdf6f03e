// An ext2/3/4 inode record (s_inode_size bytes, little-endian):
//   0x00 i_mode u16            0x02 i_uid lo u16        0x04 i_size_lo u32
//   0x08 i_atime u32           0x0C i_ctime u32         0x10 i_mtime u32
//   0x18 i_gid lo u16          0x1A i_links_count u16   0x1C i_blocks_lo u32
//   0x20 i_flags u32           0x28 i_block[15] (60 bytes: block map, extent root, inline data, fast symlink)
//   0x64 i_generation u32      0x68 i_file_acl_lo u32   0x6C i_size_high u32
//   0x74 i_blocks_high u16     0x76 i_file_acl_high u16 0x78 i_uid_high u16   0x7A i_gid_high u16
//   0x7C i_checksum_lo u16     0x80 i_extra_isize u16   0x82 i_checksum_hi u16
//   0x84 i_ctime_extra         0x88 i_mtime_extra       0x8C i_atime_extra  (nsec << 2 | epoch bits)

import type { FileStat, FileType, Timestamp } from '../guest-fs.js'
import { INCOMPAT } from '../../trim/ext/ext4-superblock.js'
import { crc32cRaw, crc32cRawLe32 } from '../../trim/bytes/crc32c.js'
import { type ExtPlace, check } from './ext-errors.js'
import type { ExtVolume } from './ext-volume.js'

export const FL = {
  HUGE_FILE: 0x40000,
  EXTENTS: 0x80000,
  EA_INODE: 0x200000,
  INLINE_DATA: 0x10000000,
  ENCRYPT: 0x800,
  INDEX: 0x1000,
  CASEFOLD: 0x40000000,
}

const RO_HUGE_FILE = 0x8

/** File type by mode >> 12 (0x1 fifo, 0x2 chardev, 0x4 dir, 0x6 blockdev, 0x8 file, 0xA symlink, 0xC socket). */
const TYPES: (FileType | undefined)[] = [undefined, 'fifo', 'chardev', undefined, 'dir', undefined, 'blockdev', undefined, 'file', undefined, 'symlink', undefined, 'socket']

export interface ExtInode {
  ino: number
  /** Volume byte offset of the record (for messages). */
  offset: number
  raw: Buffer
  mode: number
  type: FileType
  flags: number
  size: number
  /** Filesystem blocks charged to the inode (data, tree and xattr blocks). */
  blocks: number
  links: number
  /** The extended-attribute block, 0 if none. */
  xattrBlock: number
  /** i_block: 60 bytes. */
  iblock: Buffer
  /** Bytes 128 .. 128 + i_extra_isize are fixed fields; in-inode xattrs follow. */
  extraEnd: number
  /** crc32c seed of this inode's metadata (extent blocks, directory blocks). */
  csumSeed: number
  stat: FileStat
}

function time(raw: Buffer, at: number, extraAt: number, extraEnd: number): Timestamp {
  let sec = raw.readInt32LE(at)
  let nsec = 0
  if (extraAt + 4 <= extraEnd) {
    const extra = raw.readUInt32LE(extraAt)
    sec += (extra & 3) * 2 ** 32
    nsec = extra >>> 2
    if (nsec > 999_999_999) nsec = 0
  }
  return { sec, nsec }
}

/** Reads and checks inode `ino`. */
export async function readExtInode(v: ExtVolume, ino: number): Promise<ExtInode> {
  const sb = v.sb
  const p0: ExtPlace = { kind: v.kind, ino, offset: 1024 }
  check(Number.isInteger(ino) && ino >= 1 && ino <= sb.inodesPerGroup * sb.groups, p0, 'inode number', `is outside 1..${sb.inodesPerGroup * sb.groups}`)
  const offset = await v.inodeOffset(ino)
  const p: ExtPlace = { kind: v.kind, ino, offset }
  const raw = Buffer.allocUnsafe(sb.inodeSize)
  await v.vol.read(raw, offset)
  const big = sb.inodeSize > 128
  const extraIsize = big ? raw.readUInt16LE(0x80) : 0
  check(!big || (extraIsize <= sb.inodeSize - 128 && extraIsize % 4 === 0), p, 'inode', `has i_extra_isize ${extraIsize} beyond its ${sb.inodeSize} bytes`)
  const extraEnd = 128 + extraIsize
  const gen = raw.readUInt32LE(0x64)
  const csumSeed = crc32cRawLe32(crc32cRawLe32(sb.seed, ino), gen)
  if (sb.metadataCsum) check(inodeChecksumOk(raw, csumSeed, extraEnd), p, 'inode', 'has a bad checksum (metadata_csum)')
  const mode = raw.readUInt16LE(0)
  const type = TYPES[mode >>> 12]
  check(type !== undefined, p, 'inode', `has an unknown file type in mode 0${mode.toString(8)}`)
  const flags = raw.readUInt32LE(0x20)
  const size = raw.readUInt32LE(0x04) + raw.readUInt32LE(0x6c) * 2 ** 32
  check(size <= Number.MAX_SAFE_INTEGER, p, 'inode', `has size ${size}, too large`)
  const hugeFile = (sb.roCompat & RO_HUGE_FILE) !== 0
  const blocksRaw = raw.readUInt32LE(0x1c) + (hugeFile ? raw.readUInt16LE(0x74) * 2 ** 32 : 0)
  const allocated = hugeFile && flags & FL.HUGE_FILE ? blocksRaw * sb.blockSize : blocksRaw * 512
  const xattrBlock = raw.readUInt32LE(0x68) + (sb.incompat & INCOMPAT.BIT64 ? raw.readUInt16LE(0x76) * 2 ** 32 : 0)
  const links = raw.readUInt16LE(0x1a)
  const stat: FileStat = {
    id: ino,
    type,
    perm: mode & 0o7777,
    uid: raw.readUInt16LE(0x02) + raw.readUInt16LE(0x78) * 65536,
    gid: raw.readUInt16LE(0x18) + raw.readUInt16LE(0x7a) * 65536,
    size,
    allocated: Math.min(allocated, sb.blocks * sb.blockSize),
    nlink: links,
    mtime: time(raw, 0x10, 0x88, extraEnd),
    atime: time(raw, 0x08, 0x8c, extraEnd),
    ctime: time(raw, 0x0c, 0x84, extraEnd),
  }
  const iblock = raw.subarray(0x28, 0x28 + 60)
  if (type === 'chardev' || type === 'blockdev') {
    const old = iblock.readUInt32LE(0)
    const nu = iblock.readUInt32LE(4)
    stat.rdev = old ? { major: (old >>> 8) & 0xff, minor: old & 0xff } : { major: (nu >>> 8) & 0xfff, minor: (nu & 0xff) | ((nu >>> 12) & 0xfff00) }
  }
  return {
    ino,
    offset,
    raw,
    mode,
    type,
    flags,
    size,
    blocks: Math.ceil(stat.allocated / sb.blockSize),
    links,
    xattrBlock,
    iblock,
    extraEnd,
    csumSeed,
    stat,
  }
}

/** The kernel's ext4_inode_csum: the record with both checksum halves as zeros; an all-zero record passes (as in e2fsprogs). */
function inodeChecksumOk(raw: Buffer, seed: number, extraEnd: number): boolean {
  const hasHi = raw.length > 128 && extraEnd >= 0x84
  let c = crc32cRaw(seed, raw, 0, 0x7c)
  c = crc32cRaw(c, ZERO2)
  c = crc32cRaw(c, raw, 0x7e, 128)
  if (raw.length > 128) {
    c = crc32cRaw(c, raw, 128, 0x82)
    c = hasHi ? crc32cRaw(crc32cRaw(c, ZERO2), raw, 0x84, raw.length) : crc32cRaw(c, raw, 0x82, raw.length)
  }
  const want = raw.readUInt16LE(0x7c) + (hasHi ? raw.readUInt16LE(0x82) * 65536 : 0)
  const got = hasHi ? c >>> 0 : c & 0xffff
  if (got === want) return true
  for (let i = 0; i < raw.length; i++) if (raw[i] !== 0) return false
  return true
}

const ZERO2 = new Uint8Array(2)
