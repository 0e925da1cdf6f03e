// The on-disk inode (xfs_dinode), big-endian. Core, then the data fork, then
// (at the fork offset) the attribute fork.
//   0x00 di_magic 'IN' (u16)   0x02 di_mode (u16)   0x04 di_version (u8: 1, 2, 3)
//   0x05 di_format (u8: data fork format)   0x06 di_onlink (u16, v1)
//   0x08 di_uid   0x0C di_gid   0x10 di_nlink (v2, v3)   0x18 di_big_nextents (u64, NREXT64)
//   0x20 di_atime   0x28 di_mtime   0x30 di_ctime (u32 sec + u32 nsec, or BIGTIME: u64 ns since 1901-12-13)
//   0x38 di_size (u64)   0x40 di_nblocks (u64)   0x48 di_extsize
//   0x4C di_nextents (u32; NREXT64: di_big_anextents)   0x50 di_anextents (u16)
//   0x52 di_forkoff (u8, attr fork offset in 8-byte units)   0x53 di_aformat (i8)
//   0x5A di_flags (u16)   -- v3 only: 0x64 di_crc (LE)   0x78 di_flags2 (u64)
//   0x98 di_ino (u64)   0xA0 di_uuid[16]   0xB0 the data fork (v1/v2: at 0x64)

import type { FileType, Timestamp } from '../guest-fs.js'
import { xfsCrcOk } from '../../trim/xfs/xfs-bytes.js'
import { check, unsupported } from './xfs-damage.js'
import type { XfsVolume } from './xfs-volume.js'

export const FMT = { DEV: 0, LOCAL: 1, EXTENTS: 2, BTREE: 3 } as const

const DI_MAGIC = 0x494e
const DIFLAG_REALTIME = 0x1
const DIFLAG2_BIGTIME = 0x8
const DIFLAG2_NREXT64 = 0x10
/** XFS_BIGTIME_EPOCH_OFFSET: bigtime counts from the old 32-bit epoch's minimum. */
const BIGTIME_EPOCH = 2n ** 31n

/** File types by the mode's S_IFMT nibble (mode >> 12). */
const TYPES: readonly (FileType | undefined)[] = [undefined, 'fifo', 'chardev', undefined, 'dir', undefined, 'blockdev', undefined, 'file', undefined, 'symlink', undefined, 'socket']

export interface Fork {
  format: number
  /** Extent records (extents format) or records of the bmbt root's level (btree). */
  nextents: number
  /** Offset of the fork in the inode buffer and its size in bytes. */
  off: number
  size: number
}

export interface Dinode {
  ino: number
  /** Volume offset of the inode. */
  at: number
  raw: Buffer
  type: FileType
  mode: number
  uid: number
  gid: number
  nlink: number
  size: number
  nblocks: number
  atime: Timestamp
  mtime: Timestamp
  ctime: Timestamp
  data: Fork
  /** Undefined when the inode has no attribute fork. */
  attr?: Fork
}

/** Reads and checks inode `ino` (magic, CRC and self number on v3, mode, fork layout). */
export async function readDinode(x: XfsVolume, ino: number): Promise<Dinode> {
  check(x.inoValid(ino), x.where(ino, 0), `inode number ${ino} lies outside the filesystem's AGs`)
  const at = x.inoOffset(ino)
  const w = x.where(ino, at)
  const raw = Buffer.alloc(x.inodeSize)
  await x.read(raw, at)
  check(raw.readUInt16BE(0) === DI_MAGIC, w, `bad inode magic 0x${raw.readUInt16BE(0).toString(16)}`)
  const version = raw[4]!
  if (x.sb.crc) {
    check(version === 3, w, `inode version ${version} on a v5 filesystem`)
    check(xfsCrcOk(raw, 0, x.inodeSize, 0x64), w, 'inode CRC mismatch')
    check(Number(raw.readBigUInt64BE(0x98)) === ino, w, `inode records number ${raw.readBigUInt64BE(0x98)}`)
    check(raw.subarray(0xa0, 0xb0).equals(x.sb.metaUuid), w, 'inode belongs to another filesystem (UUID)')
  } else check(version === 1 || version === 2, w, `inode version ${version} on a v4 filesystem`)
  const mode = raw.readUInt16BE(2)
  check(mode !== 0, w, 'inode is free (mode 0)')
  const type = TYPES[mode >>> 12]
  check(type, w, `unknown file type in mode 0o${mode.toString(8)}`)
  const flags = raw.readUInt16BE(0x5a)
  if (flags & DIFLAG_REALTIME) throw unsupported(w, 'the file lives on the realtime device')
  const flags2 = version === 3 ? raw.readBigUInt64BE(0x78) : 0n
  const nrext64 = (flags2 & BigInt(DIFLAG2_NREXT64)) !== 0n
  const bigtime = (flags2 & BigInt(DIFLAG2_BIGTIME)) !== 0n
  check(!bigtime || x.bigtime, w, 'bigtime timestamps without the bigtime feature')
  const size = raw.readBigUInt64BE(0x38)
  const nblocks = raw.readBigUInt64BE(0x40)
  check(size < 2n ** 63n && size <= BigInt(Number.MAX_SAFE_INTEGER), w, `size ${size} too large`)
  check(nblocks <= BigInt(x.sb.dblocks), w, `${nblocks} blocks, more than the filesystem's ${x.sb.dblocks}`)
  const core = x.coreSize
  const litino = x.inodeSize - core
  const forkoff = raw[0x52]! * 8
  check(forkoff < litino, w, `attribute fork offset ${forkoff} outside the inode's ${litino} bytes`)
  const dataNext = nrext64 ? raw.readBigUInt64BE(0x18) : BigInt(raw.readUInt32BE(0x4c))
  const attrNext = nrext64 ? raw.readUInt32BE(0x4c) : raw.readUInt16BE(0x50)
  check(dataNext <= BigInt(x.sb.dblocks), w, `${dataNext} data extents, more than the filesystem's blocks`)
  const data: Fork = { format: raw[5]!, nextents: Number(dataNext), off: core, size: forkoff ? forkoff : litino }
  const aformat = raw[0x53]!
  const attr: Fork | undefined = forkoff ? { format: aformat, nextents: attrNext, off: core + forkoff, size: litino - forkoff } : undefined
  const time = (off: number): Timestamp => {
    if (bigtime) {
      const ns = raw.readBigUInt64BE(off)
      return { sec: Number(ns / 1_000_000_000n - BIGTIME_EPOCH), nsec: Number(ns % 1_000_000_000n) }
    }
    const nsec = raw.readUInt32BE(off + 4)
    check(nsec < 1e9, w, `timestamp at inode byte ${off} has ${nsec} nanoseconds`)
    return { sec: raw.readInt32BE(off), nsec }
  }
  return {
    ino,
    at,
    raw,
    type,
    mode,
    uid: raw.readUInt32BE(0x08),
    gid: raw.readUInt32BE(0x0c),
    nlink: version === 1 ? raw.readUInt16BE(0x06) : raw.readUInt32BE(0x10),
    size: Number(size),
    nblocks: Number(nblocks),
    atime: time(0x20),
    mtime: time(0x28),
    ctime: time(0x30),
    data,
    ...(attr ? { attr } : {}),
  }
}

/** The bytes of a fork inside the inode. */
export function forkBytes(d: Dinode, f: Fork): Buffer {
  return d.raw.subarray(f.off, f.off + f.size)
}
