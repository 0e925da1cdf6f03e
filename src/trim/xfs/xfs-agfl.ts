import { need } from '../skip.js'
import { be32 } from '../bytes/le.js'
import { xfsCrcOk } from './xfs-bytes.js'
import type { XfsSuper } from './xfs-superblock.js'
import { type Agf, agflSize, firstFreeAgbno } from './xfs-agf.js'

// AGFL: the AG free list, sector 3 of the AG. Blocks reserved for B+tree splits:
// owned by the free-space B+trees, absent from them, in use (never zeroed).
// v5 header, big-endian: 0x00 agfl_magicnum 'XAFL', 0x04 agfl_seqno, 0x08 agfl_uuid[16],
// 0x18 agfl_lsn, 0x20 agfl_crc (little-endian); then the ring of u32 AG block numbers (v4: from byte 0).

export const XFS_AGFL_MAGIC = 0x5841464c

/** The AG blocks on the free list, checked to lie inside the AG past its headers. */
export function agflBlocks(sb: XfsSuper, agf: Agf, raw: Buffer): number[] {
  const where = `XFS AG ${agf.agno}: AGFL`
  let base = 0
  if (sb.crc) {
    need(be32(raw, 0x00) === XFS_AGFL_MAGIC, `${where} bad magic`)
    need(xfsCrcOk(raw, 0, sb.sectSize, 0x20), `${where} CRC mismatch`)
    need(be32(raw, 0x04) === agf.agno, `${where} says it is AG ${be32(raw, 0x04)}`)
    need(raw.subarray(0x08, 0x18).equals(sb.metaUuid), `${where} belongs to another filesystem (UUID)`)
    base = 36
  }
  const size = agflSize(sb)
  const out: number[] = []
  for (let k = 0; k < agf.flcount; k++) {
    const b = be32(raw, base + 4 * ((agf.flfirst + k) % size))
    need(b >= firstFreeAgbno(sb) && b < agf.length, `${where} entry ${b} outside the AG`)
    out.push(b)
  }
  return out
}
