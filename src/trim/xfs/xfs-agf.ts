import { need } from '../skip.js'
import { be32 } from '../bytes/le.js'
import { xfsCrcOk } from './xfs-bytes.js'
import { type XfsSuper, agLength } from './xfs-superblock.js'

// AGF: the free-space header of an AG, sector 1 of the AG, big-endian.
//   0x00 agf_magicnum 'XAGF'   0x04 agf_versionnum (1)   0x08 agf_seqno (AG number)   0x0C agf_length
//   0x10 agf_roots[3]: bno, cnt, rmap root blocks        0x1C agf_levels[3]: bno, cnt, rmap levels
//   0x28 agf_flfirst   0x2C agf_fllast   0x30 agf_flcount (the AGFL ring)
//   0x34 agf_freeblks (sum of the bnobt's extents)   0x38 agf_longest   0x3C agf_btreeblks
//   0x40 agf_uuid[16] (v5)   0x50 agf_rmap_blocks   0x54 agf_refcount_blocks
//   0x58 agf_refcount_root   0x5C agf_refcount_level   0xD0 agf_lsn   0xD8 agf_crc (v5, little-endian)

export const XFS_AGF_MAGIC = 0x58414746

export interface Agf {
  agno: number
  length: number
  bnoRoot: number
  cntRoot: number
  rmapRoot: number
  bnoLevels: number
  cntLevels: number
  rmapLevels: number
  flfirst: number
  fllast: number
  flcount: number
  freeblks: number
  longest: number
  btreeblks: number
  rmapBlocks: number
  refcountRoot: number
  refcountLevels: number
}

/** Entries of the AGFL ring: sector minus the v5 header (36 bytes), 4 bytes each. */
export function agflSize(sb: XfsSuper): number {
  return (sb.sectSize - (sb.crc ? 36 : 0)) / 4
}

/** First AG block past the four header sectors (superblock copy, AGF, AGI, AGFL). */
export function firstFreeAgbno(sb: XfsSuper): number {
  return Math.ceil((4 * sb.sectSize) / sb.blockSize)
}

/** Parses and checks AG `agno`'s AGF (`raw` = its sector); `maxLevels` bounds the free-space B+trees. */
export function parseAgf(sb: XfsSuper, agno: number, raw: Buffer, maxLevels: number): Agf {
  const where = `XFS AG ${agno}: AGF`
  need(be32(raw, 0x00) === XFS_AGF_MAGIC, `${where} bad magic`)
  if (sb.crc) {
    need(xfsCrcOk(raw, 0, sb.sectSize, 0xd8), `${where} CRC mismatch`)
    need(raw.subarray(0x40, 0x50).equals(sb.metaUuid), `${where} belongs to another filesystem (UUID)`)
  }
  need(be32(raw, 0x04) === 1, `${where} version ${be32(raw, 0x04)} not supported`)
  need(be32(raw, 0x08) === agno, `${where} says it is AG ${be32(raw, 0x08)}`)
  const length = be32(raw, 0x0c)
  need(length === agLength(sb, agno), `${where} length ${length} blocks, the superblock gives ${agLength(sb, agno)}`)
  const agf: Agf = {
    agno,
    length,
    bnoRoot: be32(raw, 0x10),
    cntRoot: be32(raw, 0x14),
    rmapRoot: be32(raw, 0x18),
    bnoLevels: be32(raw, 0x1c),
    cntLevels: be32(raw, 0x20),
    rmapLevels: be32(raw, 0x24),
    flfirst: be32(raw, 0x28),
    fllast: be32(raw, 0x2c),
    flcount: be32(raw, 0x30),
    freeblks: be32(raw, 0x34),
    longest: be32(raw, 0x38),
    btreeblks: be32(raw, 0x3c),
    rmapBlocks: sb.crc ? be32(raw, 0x50) : 0,
    refcountRoot: sb.crc ? be32(raw, 0x58) : 0,
    refcountLevels: sb.crc ? be32(raw, 0x5c) : 0,
  }
  const first = firstFreeAgbno(sb)
  const inAg = (b: number): boolean => b >= first && b < length
  need(inAg(agf.bnoRoot) && inAg(agf.cntRoot) && agf.bnoRoot !== agf.cntRoot, `${where} free-space B+tree roots ${agf.bnoRoot}, ${agf.cntRoot} out of the AG`)
  need(agf.bnoLevels >= 1 && agf.bnoLevels <= maxLevels && agf.cntLevels >= 1 && agf.cntLevels <= maxLevels, `${where} B+tree levels ${agf.bnoLevels}/${agf.cntLevels} out of 1..${maxLevels}`)
  if (sb.rmap) need(inAg(agf.rmapRoot) && agf.rmapLevels >= 1 && agf.rmapLevels <= 16, `${where} rmap B+tree root out of the AG`)
  if (sb.reflink) need(inAg(agf.refcountRoot) && agf.refcountLevels >= 1 && agf.refcountLevels <= 16, `${where} refcount B+tree root out of the AG`)
  const size = agflSize(sb)
  need(agf.flfirst < size && agf.fllast < size && agf.flcount <= size, `${where} free list indexes out of the AGFL`)
  if (agf.flcount > 0) need(((agf.fllast - agf.flfirst + size) % size) + 1 === agf.flcount, `${where} free list first/last/count disagree`)
  need(agf.freeblks <= length && agf.longest <= agf.freeblks && agf.longest > 0 === agf.freeblks > 0, `${where} free counters inconsistent (freeblks ${agf.freeblks}, longest ${agf.longest})`)
  return agf
}
