import { TrimSkip, need } from '../skip.js'
import { u16, u32 } from '../bytes/le.js'
import { crc32cRaw } from '../bytes/crc32c.js'

// ext2/3/4 superblock: 1024 bytes at volume byte 1024, little-endian.
//   0x04 s_blocks_count_lo        0x14 s_first_data_block   0x18 s_log_block_size
//   0x1C s_log_cluster_size       0x20 s_blocks_per_group   0x24 s_clusters_per_group
//   0x28 s_inodes_per_group       0x38 s_magic (0xEF53)     0x3A s_state
//   0x4C s_rev_level              0x58 s_inode_size         0x5C/0x60/0x64 compat/incompat/ro_compat
//   0x68 s_uuid[16]               0x78 s_volume_name[16]    0xCE s_reserved_gdt_blocks
//   0xE0 s_journal_inum           0xE4 s_journal_dev        0xFE s_desc_size
//   0x104 s_first_meta_bg         0x150 s_blocks_count_hi   0x175 s_checksum_type
//   0x194 s_error_count           0x24C s_backup_bgs[2]     0x270 s_checksum_seed
//   0x3FC s_checksum

export const COMPAT = { HAS_JOURNAL: 0x4, SPARSE_SUPER2: 0x200, FAST_COMMIT: 0x400 }
export const INCOMPAT = { RECOVER: 0x4, JOURNAL_DEV: 0x8, META_BG: 0x10, EXTENTS: 0x40, BIT64: 0x80, FLEX_BG: 0x200, CSUM_SEED: 0x2000 }
export const RO_COMPAT = { SPARSE_SUPER: 0x1, GDT_CSUM: 0x10, BIGALLOC: 0x200, METADATA_CSUM: 0x400 }

/** Feature bits that do not change what a clear bit in a block bitmap means (reference §3.3). */
const COMPAT_OK = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x200 | 0x400 | 0x800 | 0x1000
const INCOMPAT_OK = 0x2 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x1000 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x20000
const RO_OK = 0x1 | 0x2 | 0x8 | 0x10 | 0x20 | 0x40 | 0x100 | 0x200 | 0x400 | 0x1000 | 0x2000 | 0x4000 | 0x8000 | 0x10000

export interface ExtSuper {
  raw: Buffer
  blockSize: number
  clusterSize: number
  /** Blocks per cluster. */
  ratio: number
  blocks: number
  firstDataBlock: number
  blocksPerGroup: number
  clustersPerGroup: number
  inodesPerGroup: number
  inodeSize: number
  groups: number
  descSize: number
  descPerBlock: number
  /** Classic GDT blocks: ceil(groups / descPerBlock). */
  gdtBlocks: number
  reservedGdt: number
  firstMetaBg: number
  compat: number
  incompat: number
  roCompat: number
  uuid: Buffer
  label: string
  metadataCsum: boolean
  gdtCsum: boolean
  /** crc32c seed for metadata checksums. */
  seed: number
  backupBgs: [number, number]
  journalInum: number
  journalDev: number
}

/** The feature words of a raw superblock, before any validation (for naming a skipped volume). */
export function rawFeatures(raw: Buffer): Pick<ExtSuper, 'compat' | 'incompat' | 'roCompat'> {
  const rev = raw.readUInt32LE(0x4c)
  return rev >= 1 ? { compat: raw.readUInt32LE(0x5c), incompat: raw.readUInt32LE(0x60), roCompat: raw.readUInt32LE(0x64) } : { compat: 0, incompat: 0, roCompat: 0 }
}

export const has = (sb: ExtSuper, field: 'compat' | 'incompat' | 'roCompat', bit: number): boolean => (sb[field] & bit) !== 0

export interface ExtSuperOptions {
  /**
   * Reading files (files/ext) rather than trimming: a filesystem that was
   * mounted (VALID_FS clear), has recorded errors or carries feature bits the
   * trim does not know is still readable; the reader decides which features
   * it can follow. The geometry is checked all the same.
   */
  forReading?: boolean
}

/**
 * Parses and validates the superblock (`raw` = the 1024 bytes at volume byte
 * 1024) against the volume size. Throws TrimSkip for anything the trim must
 * not rely on: unknown features, checksum, state, errors, geometry.
 */
export function parseExtSuper(raw: Buffer, volumeSize: number, opts: ExtSuperOptions = {}): ExtSuper {
  const trim = !opts.forReading
  need(u16(raw, 0x38) === 0xef53, 'no ext2/3/4 magic')
  const rev = u32(raw, 0x4c)
  const logBlock = u32(raw, 0x18)
  need(logBlock <= 6, `block size exponent ${logBlock} out of range (1-64 KiB)`)
  const blockSize = 1024 << logBlock
  const compat = rev >= 1 ? u32(raw, 0x5c) : 0
  const incompat = rev >= 1 ? u32(raw, 0x60) : 0
  const roCompat = rev >= 1 ? u32(raw, 0x64) : 0
  // first: a journal device carries no filesystem, whatever else its feature words say
  need(!(incompat & INCOMPAT.JOURNAL_DEV), 'external journal device, not a filesystem')
  if (trim && compat & ~COMPAT_OK) throw new TrimSkip(`unknown COMPAT feature bit 0x${((compat & ~COMPAT_OK) >>> 0).toString(16)}`)
  if (trim && incompat & ~INCOMPAT_OK) throw new TrimSkip(`unknown INCOMPAT feature bit 0x${((incompat & ~INCOMPAT_OK) >>> 0).toString(16)}`)
  if (trim && roCompat & ~RO_OK) throw new TrimSkip(`unknown RO_COMPAT feature bit 0x${((roCompat & ~RO_OK) >>> 0).toString(16)}`)
  const metadataCsum = (roCompat & RO_COMPAT.METADATA_CSUM) !== 0
  const gdtCsum = (roCompat & RO_COMPAT.GDT_CSUM) !== 0
  need(!(metadataCsum && gdtCsum), 'both gdt_csum and metadata_csum set (invalid)')
  if (metadataCsum) {
    need(raw[0x175] === 1, `unknown metadata checksum type ${raw[0x175]}`)
    need(crc32cRaw(0xffffffff, raw, 0, 0x3fc) === u32(raw, 0x3fc), 'superblock checksum mismatch')
  }
  const state = u16(raw, 0x3a)
  const errors = u32(raw, 0x194)
  if (trim) {
    need(state & 1, 's_state lacks VALID_FS')
    need(!(state & 2), 's_state has ERROR_FS')
    need(errors === 0, `s_error_count is ${errors} (errors recorded since the last fsck)`)
  }
  const bit64 = (incompat & INCOMPAT.BIT64) !== 0
  const bigalloc = (roCompat & RO_COMPAT.BIGALLOC) !== 0
  const blocks = u32(raw, 0x04) + (bit64 ? u32(raw, 0x150) * 2 ** 32 : 0)
  const firstDataBlock = u32(raw, 0x14)
  const blocksPerGroup = u32(raw, 0x20)
  const logCluster = u32(raw, 0x1c)
  const clusterSize = bigalloc ? (logCluster <= 16 ? 1024 * 2 ** logCluster : 0) : blockSize
  const clustersPerGroup = bigalloc ? u32(raw, 0x24) : blocksPerGroup
  const ratio = clusterSize / blockSize
  need(Number.isInteger(ratio) && ratio >= 1 && clusterSize <= 1 << 28, `cluster size ${clusterSize} invalid for block size ${blockSize}`)
  need(clustersPerGroup >= 8 && clustersPerGroup % 8 === 0 && clustersPerGroup <= blockSize * 8 && clustersPerGroup * ratio === blocksPerGroup, 'inconsistent blocks/clusters per group')
  need(blocksPerGroup >= 256 || blocksPerGroup >= blocks, `blocks per group ${blocksPerGroup} below the mke2fs minimum`)
  need(firstDataBlock === (blockSize === 1024 && !bigalloc ? 1 : 0), `s_first_data_block ${firstDataBlock} unexpected for ${blockSize}-byte blocks`)
  need(blocks > firstDataBlock, 'block count too small')
  need(blocks * blockSize <= volumeSize, `filesystem (${blocks * blockSize} bytes) larger than its container (${volumeSize} bytes)`)
  const inodeSize = rev >= 1 ? u16(raw, 0x58) : 128
  need(inodeSize >= 128 && inodeSize <= blockSize && (inodeSize & (inodeSize - 1)) === 0, `inode size ${inodeSize} invalid`)
  const descSize = bit64 ? u16(raw, 0xfe) : 32
  need(descSize >= 32 && descSize <= 1024 && (descSize & (descSize - 1)) === 0 && (!bit64 || descSize >= 64), `descriptor size ${descSize} invalid`)
  const inodesPerGroup = u32(raw, 0x28)
  need(inodesPerGroup > 0 && inodesPerGroup <= blockSize * 8, `inodes per group ${inodesPerGroup} invalid`)
  const groups = Math.ceil((blocks - firstDataBlock) / blocksPerGroup)
  const descPerBlock = blockSize / descSize
  const uuid = Buffer.from(raw.subarray(0x68, 0x78))
  const seed = incompat & INCOMPAT.CSUM_SEED ? u32(raw, 0x270) : crc32cRaw(0xffffffff, uuid)
  const reservedGdt = rev >= 1 ? u16(raw, 0xce) : 0
  need(reservedGdt <= blockSize / 4, `reserved GDT blocks ${reservedGdt} beyond the e2fsprogs limit`)
  const firstMetaBg = u32(raw, 0x104)
  need(!(incompat & INCOMPAT.META_BG) || firstMetaBg <= Math.ceil(groups / descPerBlock), `s_first_meta_bg ${firstMetaBg} beyond the descriptor blocks`)
  const label = raw.toString('latin1', 0x78, 0x88).replace(/\0.*$/s, '')
  return {
    raw,
    blockSize,
    clusterSize,
    ratio,
    blocks,
    firstDataBlock,
    blocksPerGroup,
    clustersPerGroup,
    inodesPerGroup,
    inodeSize,
    groups,
    descSize,
    descPerBlock,
    gdtBlocks: Math.ceil(groups / descPerBlock),
    reservedGdt,
    firstMetaBg,
    compat,
    incompat,
    roCompat,
    uuid,
    label,
    metadataCsum,
    gdtCsum,
    seed,
    backupBgs: [u32(raw, 0x24c), u32(raw, 0x250)],
    journalInum: u32(raw, 0xe0),
    journalDev: u32(raw, 0xe4),
  }
}

/** 'ext2' | 'ext3' | 'ext4' as blkid would say (works on an unvalidated superblock too). */
export function extKind(sb: Pick<ExtSuper, 'compat' | 'incompat' | 'roCompat'>): string {
  const ext4Bits = INCOMPAT.EXTENTS | INCOMPAT.BIT64 | INCOMPAT.FLEX_BG | INCOMPAT.META_BG
  if (sb.incompat & ext4Bits || sb.roCompat & (RO_COMPAT.BIGALLOC | RO_COMPAT.METADATA_CSUM | RO_COMPAT.GDT_CSUM | 0x8 | 0x40)) return 'ext4'
  return sb.compat & COMPAT.HAS_JOURNAL ? 'ext3' : 'ext2'
}
