import { type ExtSuper, COMPAT, INCOMPAT, RO_COMPAT } from './ext4-superblock.js'
import { crc32cRaw, crc32cRawLe32 } from '../bytes/crc32c.js'
import { crc16Raw } from '../bytes/crc16.js'
import { u16, u32 } from '../bytes/le.js'

// Group descriptor (desc_size bytes; the hi halves only when desc_size >= 64):
//   0x00/0x20 block bitmap lo/hi    0x04/0x24 inode bitmap lo/hi   0x08/0x28 inode table lo/hi
//   0x0C/0x2C free clusters lo/hi   0x12 bg_flags (1 INODE_UNINIT, 2 BLOCK_UNINIT)
//   0x1C/0x32 itable_unused lo/hi (inodes at the table's end never used; with group checksums)
//   0x18/0x38 block bitmap crc32c lo/hi                            0x1E descriptor checksum

export const BG_INODE_UNINIT = 0x1
export const BG_BLOCK_UNINIT = 0x2

export interface GroupDesc {
  blockBitmap: number
  inodeBitmap: number
  inodeTable: number
  freeClusters: number
  flags: number
  itableUnused: number
  bitmapCsum: number
  checksum: number
}

export function parseDesc(sb: ExtSuper, d: Buffer, off: number): GroupDesc {
  const big = sb.descSize >= 64
  const hi32 = (o: number): number => (big ? u32(d, off + o) * 2 ** 32 : 0)
  const hi16 = (o: number): number => (big ? u16(d, off + o) * 65536 : 0)
  return {
    blockBitmap: u32(d, off) + hi32(0x20),
    inodeBitmap: u32(d, off + 4) + hi32(0x24),
    inodeTable: u32(d, off + 8) + hi32(0x28),
    freeClusters: u16(d, off + 0x0c) + hi16(0x2c),
    flags: u16(d, off + 0x12),
    itableUnused: u16(d, off + 0x1c) + hi16(0x32),
    bitmapCsum: u16(d, off + 0x18) + hi16(0x38),
    checksum: u16(d, off + 0x1e),
  }
}

/** The descriptor checksum as it should be (metadata_csum: crc32c; gdt_csum: crc16). */
export function descChecksum(sb: ExtSuper, g: number, d: Buffer, off: number): number {
  if (sb.metadataCsum) {
    let c = crc32cRawLe32(sb.seed, g)
    c = crc32cRaw(c, d, off, off + 0x1e)
    c = crc32cRaw(c, ZERO2)
    c = crc32cRaw(c, d, off + 0x20, off + sb.descSize)
    return c & 0xffff
  }
  let c = crc16Raw(0xffff, sb.uuid)
  c = crc16Raw(c, LE32(g))
  c = crc16Raw(c, d, off, off + 0x1e)
  if (sb.descSize > 0x20) c = crc16Raw(c, d, off + 0x20, off + sb.descSize)
  return c
}

const ZERO2 = new Uint8Array(2)
const LE32 = (v: number): Uint8Array => new Uint8Array([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff])

/** Block bitmap checksum of the first clustersPerGroup/8 bytes, compared at the width the descriptor stores. */
export function bitmapChecksumOk(sb: ExtSuper, desc: GroupDesc, bitmap: Uint8Array): boolean {
  const c = crc32cRaw(sb.seed, bitmap, 0, sb.clustersPerGroup / 8)
  return sb.descSize >= 64 ? c >>> 0 === desc.bitmapCsum >>> 0 : (c & 0xffff) === desc.bitmapCsum
}

export function groupFirstBlock(sb: ExtSuper, g: number): number {
  return sb.firstDataBlock + g * sb.blocksPerGroup
}

export function groupBlocks(sb: ExtSuper, g: number): number {
  return g === sb.groups - 1 ? sb.blocks - groupFirstBlock(sb, g) : sb.blocksPerGroup
}

/** Clusters of group g that lie inside the filesystem. */
export function groupClusters(sb: ExtSuper, g: number): number {
  return Math.ceil(groupBlocks(sb, g) / sb.ratio)
}

function isPowerOf(a: number, b: number): boolean {
  while (a > 1 && a % b === 0) a /= b
  return a === 1
}

/** Whether group g carries a superblock copy (sparse_super, sparse_super2 rules). */
export function hasSuper(sb: ExtSuper, g: number): boolean {
  if (g === 0) return true
  if (sb.compat & COMPAT.SPARSE_SUPER2) return g === sb.backupBgs[0] || g === sb.backupBgs[1]
  if (g <= 1 || !(sb.roCompat & RO_COMPAT.SPARSE_SUPER)) return true
  if (!(g & 1)) return false
  return isPowerOf(g, 3) || isPowerOf(g, 5) || isPowerOf(g, 7)
}

const metaBg = (sb: ExtSuper): boolean => (sb.incompat & INCOMPAT.META_BG) !== 0

/** The block holding the primary descriptor of group g. */
export function descBlockOf(sb: ExtSuper, g: number): number {
  const mg = Math.floor(g / sb.descPerBlock)
  if (metaBg(sb) && mg >= sb.firstMetaBg) {
    const first = mg * sb.descPerBlock
    return groupFirstBlock(sb, first) + (hasSuper(sb, first) ? 1 : 0)
  }
  const base = sb.blockSize === 1024 && sb.ratio > 1 ? 1 : sb.firstDataBlock
  return base + 1 + mg
}

/** Blocks at the start of group g used by superblock/GDT copies (the kernel's ext4_num_base_meta_clusters, in blocks). */
export function baseMetaBlocks(sb: ExtSuper, g: number): number {
  let num = hasSuper(sb, g) ? 1 : 0
  if (!metaBg(sb) || g < sb.firstMetaBg * sb.descPerBlock) {
    if (num) num += (metaBg(sb) ? sb.firstMetaBg : sb.gdtBlocks) + sb.reservedGdt
  } else {
    const pos = g % sb.descPerBlock
    if (pos === 0 || pos === 1 || pos === sb.descPerBlock - 1) num += 1
  }
  return num
}

/** [start, count] block ranges of superblock and descriptor copies placed in group g (must be marked used). */
export function fixedMetaRanges(sb: ExtSuper, g: number): [number, number][] {
  const out: [number, number][] = []
  let gb = groupFirstBlock(sb, g)
  if (gb === 0 && sb.blockSize === 1024 && sb.ratio > 1) gb = 1
  const hs = hasSuper(sb, g)
  if (hs) out.push([gb, 1])
  const mg = Math.floor(g / sb.descPerBlock)
  if (!metaBg(sb) || mg < sb.firstMetaBg) {
    if (hs) out.push([gb + 1, (metaBg(sb) ? sb.firstMetaBg : sb.gdtBlocks) + sb.reservedGdt])
  } else {
    const pos = g % sb.descPerBlock
    if (pos === 0 || pos === 1 || pos === sb.descPerBlock - 1) out.push([gb + (hs ? 1 : 0), 1])
  }
  return out
}

/** Inode-table blocks per group. */
export function inodeTableBlocks(sb: ExtSuper): number {
  return Math.ceil((sb.inodesPerGroup * sb.inodeSize) / sb.blockSize)
}
