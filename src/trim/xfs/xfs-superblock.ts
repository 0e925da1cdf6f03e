import { need } from '../skip.js'
import { be16, be32 } from '../bytes/le.js'
import { xfsCrcOk, be64 } from './xfs-bytes.js'

// XFS superblock: sector 0 of the volume (AG 0), big-endian, one sector (sb_sectsize) long.
//   0x00 sb_magicnum 'XFSB'    0x04 sb_blocksize          0x08 sb_dblocks (u64)
//   0x10 sb_rblocks (u64)      0x18 sb_rextents (u64)     0x20 sb_uuid[16]
//   0x30 sb_logstart (fsblock, u64; 0 = external log)    0x50 sb_rextsize
//   0x54 sb_agblocks           0x58 sb_agcount            0x5C sb_rbmblocks
//   0x60 sb_logblocks          0x64 sb_versionnum (u16)   0x66 sb_sectsize (u16)
//   0x6C sb_fname[12]          0x78 sb_blocklog (u8)      0x79 sb_sectlog (u8)
//   0x7C sb_agblklog (u8)      0x7E sb_inprogress (u8)    0x90 sb_fdblocks (u64)
//   0xB3 sb_shared_vn (u8)     0xC8 sb_features2          0xD0 sb_features_compat (v5)
//   0xD4 sb_features_ro_compat 0xD8 sb_features_incompat  0xDC sb_features_log_incompat
//   0xE0 sb_crc (little-endian crc32c of the sector)      0xF8 sb_meta_uuid[16]

export const XFS_SB_MAGIC = 0x58465342

/** sb_versionnum bits (v4). */
const V = { NUMBITS: 0x000f, SHAREDBIT: 0x0200, DIRV2BIT: 0x2000, MOREBITSBIT: 0x8000 }
/** v4 feature bits the kernel accepts (XFS_SB_VERSION_OKBITS): everything but the shared bit. */
const V4_OKBITS = 0xfff0 & ~V.SHAREDBIT
/** sb_features2 bits known to the kernel (XFS_SB_VERSION2_OKBITS): lazysbcount, attr2, projid32, crc, ftype. */
const F2_OKBITS = 0x2 | 0x8 | 0x80 | 0x100 | 0x200
const F2_LAZYSBCOUNT = 0x2

/** v5 feature bits: none of the accepted ones changes what the free-space B+trees mean. */
export const RO_COMPAT = { FINOBT: 0x1, RMAPBT: 0x2, REFLINK: 0x4, INOBTCNT: 0x8 }
export const INCOMPAT = {
  FTYPE: 0x1,
  SPINODES: 0x2,
  META_UUID: 0x4,
  BIGTIME: 0x8,
  NEEDSREPAIR: 0x10,
  NREXT64: 0x20,
  EXCHRANGE: 0x40,
  PARENT: 0x80,
  METADIR: 0x100,
}
const RO_COMPAT_OK = RO_COMPAT.FINOBT | RO_COMPAT.RMAPBT | RO_COMPAT.REFLINK | RO_COMPAT.INOBTCNT
// NEEDSREPAIR: xfs_repair was interrupted; METADIR (and realtime groups behind it): not read here.
const INCOMPAT_OK = INCOMPAT.FTYPE | INCOMPAT.SPINODES | INCOMPAT.META_UUID | INCOMPAT.BIGTIME | INCOMPAT.NREXT64 | INCOMPAT.EXCHRANGE | INCOMPAT.PARENT
/** Log-incompat bits: logged extended attributes (1), file mapping exchange (2). */
const LOG_INCOMPAT_OK = 0x1 | 0x2

/** Smallest and largest AG in blocks (XFS_MIN_AG_BLOCKS, XFS_MAX_AG_BLOCKS). */
const MIN_AG_BLOCKS = 64
const MAX_AG_BLOCKS = 2 ** 31 - 1

export interface XfsSuper {
  raw: Buffer
  version: 4 | 5
  crc: boolean
  blockSize: number
  blockLog: number
  sectSize: number
  dblocks: number
  agblocks: number
  agcount: number
  agblklog: number
  /** The internal log: first linear block and length in blocks. */
  logBlock: number
  logBlocks: number
  /** sb_uuid: what log records carry. */
  uuid: Buffer
  /** What every v5 metadata block carries: sb_meta_uuid with META_UUID, else sb_uuid. */
  metaUuid: Buffer
  lazyCounts: boolean
  rmap: boolean
  reflink: boolean
  fdblocks: number
  roCompat: number
  incompat: number
  logIncompat: number
  versionnum: number
  label: string
}

const isPow2 = (v: number): boolean => v > 0 && (v & (v - 1)) === 0

/** Parses and checks the primary superblock (`raw` = its whole sector); throws TrimSkip on anything unknown or inconsistent. */
export function parseXfsSuper(raw: Buffer, volSize: number): XfsSuper {
  need(be32(raw, 0x00) === XFS_SB_MAGIC, 'XFS: bad superblock magic')
  const versionnum = be16(raw, 0x64)
  const v = versionnum & V.NUMBITS
  need(v === 4 || v === 5, `XFS: superblock version ${v} not supported`)
  const blockSize = be32(raw, 0x04)
  const sectSize = be16(raw, 0x66)
  const blockLog = raw[0x78]!
  const sectLog = raw[0x79]!
  need(isPow2(sectSize) && sectSize >= 512 && sectSize <= 32768 && 1 << sectLog === sectSize, `XFS: bad sector size ${sectSize}`)
  need(isPow2(blockSize) && blockSize >= 512 && blockSize <= 65536 && 1 << blockLog === blockSize && blockSize >= sectSize, `XFS: bad block size ${blockSize}`)
  need(raw.length >= sectSize, 'XFS: superblock sector short')
  const crc = v === 5
  if (crc) need(xfsCrcOk(raw, 0, sectSize, 0xe0), 'XFS: superblock CRC mismatch')
  const features2 = be32(raw, 0xc8)
  if (v === 4) {
    need(versionnum & V.DIRV2BIT, 'XFS v4 without version 2 directories: not supported')
    need((versionnum & ~V.NUMBITS & ~V4_OKBITS) === 0, `XFS v4: unknown feature bits in versionnum 0x${versionnum.toString(16)}`)
    need(!(versionnum & V.MOREBITSBIT) || (features2 & ~F2_OKBITS) === 0, `XFS v4: unknown features2 bits 0x${features2.toString(16)}`)
  }
  const roCompat = crc ? be32(raw, 0xd4) : 0
  const incompat = crc ? be32(raw, 0xd8) : 0
  const logIncompat = crc ? be32(raw, 0xdc) : 0
  need(!(incompat & INCOMPAT.NEEDSREPAIR), 'XFS: the filesystem is marked as needing repair (an xfs_repair was interrupted)')
  need((incompat & ~INCOMPAT_OK) === 0, `XFS: unknown incompat feature bits 0x${(incompat & ~INCOMPAT_OK).toString(16)}`)
  need((roCompat & ~RO_COMPAT_OK) === 0, `XFS: unknown ro_compat feature bits 0x${(roCompat & ~RO_COMPAT_OK).toString(16)}`)
  need((logIncompat & ~LOG_INCOMPAT_OK) === 0, `XFS: unknown log_incompat feature bits 0x${(logIncompat & ~LOG_INCOMPAT_OK).toString(16)}`)
  need(raw[0x7e] === 0, 'XFS: sb_inprogress is set (mkfs did not finish)')
  need(raw[0xb3] === 0, 'XFS: shared filesystem version (sb_shared_vn) not supported')
  const dblocks = be64(raw, 0x08)
  const agblocks = be32(raw, 0x54)
  const agcount = be32(raw, 0x58)
  const agblklog = raw[0x7c]!
  // as the kernel's superblock verifier: 64 blocks, 16 MiB and at most 1 TiB per AG (which also bounds the AG count)
  need(agblocks >= MIN_AG_BLOCKS && agblocks <= MAX_AG_BLOCKS && agblocks * blockSize >= 2 ** 24 && agblocks * blockSize <= 2 ** 40, `XFS: AG size ${agblocks} blocks out of range`)
  need(agblklog < 32 && 2 ** agblklog >= agblocks && 2 ** (agblklog - 1) < agblocks, `XFS: sb_agblklog ${agblklog} does not match ${agblocks} blocks per AG`)
  need(agcount >= 1 && dblocks > (agcount - 1) * agblocks && dblocks <= agcount * agblocks, `XFS: ${dblocks} blocks do not make ${agcount} AGs of ${agblocks}`)
  need(dblocks * blockSize <= volSize, `XFS: the filesystem (${dblocks * blockSize} bytes) is larger than its container (${volSize} bytes)`)
  need(be64(raw, 0x10) === 0 && be64(raw, 0x18) === 0 && be32(raw, 0x5c) === 0, 'XFS: realtime device in use (its space is not in this volume)')
  const logStart = be64(raw, 0x30)
  need(logStart !== 0, 'XFS: external log device (not in this volume)')
  const logAg = Math.floor(logStart / 2 ** agblklog)
  const logAgbno = logStart % 2 ** agblklog
  const logBlocks = be32(raw, 0x60)
  need(
    logAg < agcount && logBlocks > 0 && logAgbno + logBlocks <= agblocks && logAg * agblocks + logAgbno + logBlocks <= dblocks,
    `XFS: internal log (fsblock ${logStart}, ${logBlocks} blocks) outside its AG`,
  )
  const uuid = Buffer.from(raw.subarray(0x20, 0x30))
  const metaUuid = crc && incompat & INCOMPAT.META_UUID ? Buffer.from(raw.subarray(0xf8, 0x108)) : uuid
  const fname = raw.subarray(0x6c, 0x78)
  const end = fname.indexOf(0)
  return {
    raw,
    version: v,
    crc,
    blockSize,
    blockLog,
    sectSize,
    dblocks,
    agblocks,
    agcount,
    agblklog,
    logBlock: logAg * agblocks + logAgbno,
    logBlocks,
    uuid,
    metaUuid,
    lazyCounts: crc || ((versionnum & V.MOREBITSBIT) !== 0 && (features2 & F2_LAZYSBCOUNT) !== 0),
    rmap: (roCompat & RO_COMPAT.RMAPBT) !== 0,
    reflink: (roCompat & RO_COMPAT.REFLINK) !== 0,
    fdblocks: be64(raw, 0x90),
    roCompat,
    incompat,
    logIncompat,
    versionnum,
    label: fname.toString('latin1', 0, end < 0 ? 12 : end),
  }
}

/** Blocks in AG `agno` (the last one may be short). */
export function agLength(sb: XfsSuper, agno: number): number {
  return agno < sb.agcount - 1 ? sb.agblocks : sb.dblocks - (sb.agcount - 1) * sb.agblocks
}

/** The 512-byte disk address (daddr) of block `agbno` of AG `agno`, as v5 headers record it. */
export function agDaddr(sb: XfsSuper, agno: number, agbno: number): number {
  return (agno * sb.agblocks + agbno) * (sb.blockSize / 512)
}
