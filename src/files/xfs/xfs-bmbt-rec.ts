// A block map record (xfs_bmbt_rec): 128 bits, big-endian, packed as
//   bit 127       extent flag (1 = unwritten: allocated, reads as zeros)
//   bits 73..126  br_startoff   (54 bits: file offset in blocks)
//   bits 21..72   br_startblock (52 bits: filesystem block number, AG in the high bits)
//   bits 0..20    br_blockcount (21 bits)
// The extents format keeps these records in the fork itself; the btree
// format keeps them in the leaves of the bmap B+tree (xfs-bmap-btree.ts).

import type { Where } from './xfs-damage.js'
import { check } from './xfs-damage.js'
import type { XfsVolume } from './xfs-volume.js'

export interface Extent {
  /** File offset in blocks. */
  off: number
  /** Linear block on the volume (agno * agblocks + agbno). */
  block: number
  count: number
  unwritten: boolean
}

/** The largest file block offset whose byte offset stays a safe integer. */
const maxFileBlock = (x: XfsVolume): number => Math.floor(Number.MAX_SAFE_INTEGER / x.sb.blockSize)

/** Decodes the record at `b[pos]`, checked against the geometry and the previous record's end (`after`). */
export function decodeBmbtRec(x: XfsVolume, b: Buffer, pos: number, after: number, w: Where): Extent {
  const w0 = b.readUInt32BE(pos)
  const w1 = b.readUInt32BE(pos + 4)
  const w2 = b.readUInt32BE(pos + 8)
  const w3 = b.readUInt32BE(pos + 12)
  const off = (w0 & 0x7fffffff) * 2 ** 23 + (w1 >>> 9)
  const fsb = (w1 & 0x1ff) * 2 ** 43 + w2 * 2 ** 11 + (w3 >>> 21)
  const count = w3 & 0x1fffff
  check(count > 0, w, `extent at file block ${off} has no blocks`)
  check(off + count <= maxFileBlock(x), w, `extent at file block ${off} ends past the largest file offset`)
  check(off >= after, w, `extent at file block ${off} overlaps or precedes the previous one (ending at ${after})`)
  const block = x.linear(fsb, count)
  check(block >= 0, w, `extent at file block ${off} (filesystem block ${fsb}, ${count} blocks) lies outside its AG`)
  return { off, block, count, unwritten: w0 >>> 31 === 1 }
}

/** The records of an extents-format fork: `n` of them, bounded by the fork's size. */
export function extentsFormat(x: XfsVolume, fork: Buffer, n: number, w: Where): Extent[] {
  check(n * 16 <= fork.length, w, `${n} extents do not fit the ${fork.length}-byte fork`)
  const out: Extent[] = []
  let after = 0
  for (let i = 0; i < n; i++) {
    const e = decodeBmbtRec(x, fork, i * 16, after, w)
    after = e.off + e.count
    out.push(e)
  }
  return out
}
