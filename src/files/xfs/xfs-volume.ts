// One opened XFS volume: the trim's superblock (trim/xfs/xfs-superblock) plus
// the fields the file reader needs, and the address arithmetic every other
// structure uses (filesystem block and inode numbers to volume offsets), each
// checked against the AG and volume geometry before any read.
//   0x38 sb_rootino (u64)   0x68 sb_inodesize (u16)   0x6A sb_inopblock (u16)
//   0x7A sb_inodelog (u8)   0x7B sb_inopblog (u8)     0xC0 sb_dirblklog (u8)
//   0xC8 sb_features2 (v4: 0x200 = ftype in directory entries)

import type { VolumeReader } from '../../trim/volume.js'
import { type XfsSuper, INCOMPAT, agLength } from '../../trim/xfs/xfs-superblock.js'
import { type Where, check } from './xfs-damage.js'

const F2_FTYPE = 0x200

export class XfsVolume {
  readonly inodeSize: number
  readonly inopblog: number
  readonly rootIno: number
  /** Directory block size in bytes (a directory block may span several filesystem blocks). */
  readonly dirBlockSize: number
  /** Filesystem blocks per directory block. */
  readonly dirBlocks: number
  /** Directory entries carry a file type byte. */
  readonly ftype: boolean
  readonly bigtime: boolean
  /** Bytes of inode core: 176 (v3 inodes, v5) or 100 (v1/v2 inodes, v4). */
  readonly coreSize: number

  constructor(
    readonly vol: VolumeReader,
    readonly sb: XfsSuper,
    readonly name: string,
  ) {
    const raw = sb.raw
    const at: Where = { volume: name, offset: 0 }
    this.inodeSize = raw.readUInt16BE(0x68)
    const inodeLog = raw[0x7a]!
    const inopblock = raw.readUInt16BE(0x6a)
    this.inopblog = raw[0x7b]!
    check(
      this.inodeSize >= 256 && this.inodeSize <= 2048 && 1 << inodeLog === this.inodeSize && this.inodeSize <= sb.blockSize,
      at,
      `superblock: inode size ${this.inodeSize} (log ${inodeLog}) out of range`,
    )
    check(
      inopblock * this.inodeSize === sb.blockSize && 1 << this.inopblog === inopblock,
      at,
      `superblock: ${inopblock} inodes per block (log ${this.inopblog}) do not fill a ${sb.blockSize}-byte block`,
    )
    check(sb.agblklog + this.inopblog <= 32 + 16, at, 'superblock: inode numbers wider than 48 bits')
    const dirblklog = raw[0xc0]!
    check(dirblklog <= 16 && sb.blockSize * 2 ** dirblklog <= 65536, at, `superblock: directory block log ${dirblklog} makes blocks over 64 KiB`)
    this.dirBlocks = 2 ** dirblklog
    this.dirBlockSize = sb.blockSize * this.dirBlocks
    this.ftype = sb.crc ? (sb.incompat & INCOMPAT.FTYPE) !== 0 : (raw.readUInt32BE(0xc8) & F2_FTYPE) !== 0
    this.bigtime = (sb.incompat & INCOMPAT.BIGTIME) !== 0
    this.coreSize = sb.crc ? 176 : 100
    const root = raw.readBigUInt64BE(0x38)
    check(root < 2n ** 53n && this.inoValid(Number(root)), at, `superblock: root inode ${root} outside the filesystem`)
    this.rootIno = Number(root)
  }

  where(ino: number | undefined, offset: number): Where {
    return ino === undefined ? { volume: this.name, offset } : { volume: this.name, ino, offset }
  }

  /** Whether an inode number names a slot inside the filesystem's AGs. */
  inoValid(ino: number): boolean {
    if (!Number.isSafeInteger(ino) || ino <= 0) return false
    const perAg = 2 ** (this.sb.agblklog + this.inopblog)
    const agno = Math.floor(ino / perAg)
    const agbno = Math.floor((ino % perAg) / 2 ** this.inopblog)
    return agno < this.sb.agcount && agbno < agLength(this.sb, agno)
  }

  /** Volume byte offset of inode `ino` (checked with inoValid first). */
  inoOffset(ino: number): number {
    const perAg = 2 ** (this.sb.agblklog + this.inopblog)
    const agno = Math.floor(ino / perAg)
    const rest = ino % perAg
    const agbno = Math.floor(rest / 2 ** this.inopblog)
    const slot = rest % 2 ** this.inopblog
    return (agno * this.sb.agblocks + agbno) * this.sb.blockSize + slot * this.inodeSize
  }

  /** The linear block (agno * agblocks + agbno) of filesystem block number `fsb` spanning `count` blocks, or -1 if it leaves its AG. */
  linear(fsb: number, count = 1): number {
    if (!Number.isSafeInteger(fsb) || fsb < 0 || count < 1) return -1
    const agno = Math.floor(fsb / 2 ** this.sb.agblklog)
    const agbno = fsb % 2 ** this.sb.agblklog
    if (agno >= this.sb.agcount || agbno + count > agLength(this.sb, agno)) return -1
    return agno * this.sb.agblocks + agbno
  }

  /** The AG number of filesystem block `fsb`. */
  agOf(fsb: number): number {
    return Math.floor(fsb / 2 ** this.sb.agblklog)
  }

  /** The 512-byte disk address v5 headers record for a linear block. */
  daddr(linear: number): number {
    return linear * (this.sb.blockSize / 512)
  }

  /** Reads `buf.length` bytes at volume offset `off` (callers have bounded it by the geometry). */
  read(buf: Buffer, off: number): Promise<void> {
    return this.vol.read(buf, off)
  }
}
