// The bmap B+tree of a btree-format fork. Its root (xfs_bmdr_block) sits in
// the inode fork: 0x00 bb_level (u16)   0x02 bb_numrecs (u16)   0x04 keys
// (u64 file offsets), then pointers (u64 filesystem blocks) at 4 + maxrecs * 8,
// maxrecs = (fork size - 4) / 16. Its other blocks are long-form B+tree blocks:
//   0x00 bb_magic 'BMAP' (v4) / 'BMA3' (v5)   0x04 bb_level (u16)   0x06 bb_numrecs (u16)
//   0x08 bb_leftsib (u64)   0x10 bb_rightsib (u64; all ones = none)
//   v5: 0x18 bb_blkno (daddr)   0x20 bb_lsn   0x28 bb_uuid[16]   0x38 bb_owner (inode)   0x40 bb_crc (LE)
// then leaf records (xfs-bmbt-rec.ts) or keys and pointers at header + maxrecs * 8.
// The walk goes left to right, depth first: one block per level in memory, each
// block visited once, siblings checked against the walk's order.

import { xfsCrcOk } from '../../trim/xfs/xfs-bytes.js'
import { type Extent, decodeBmbtRec } from './xfs-bmbt-rec.js'
import { check } from './xfs-damage.js'
import type { XfsVolume } from './xfs-volume.js'

const BMAP_MAGIC = 0x424d4150
const BMA3_MAGIC = 0x424d4133
/** XFS_BTREE_MAXLEVELS of the bmbt on any real filesystem. */
const MAX_LEVELS = 9
const NULL64 = 0xffffffffffffffffn

/** Every extent of a btree-format fork (inode `ino`, fork bytes `root` at volume offset `at`), in file order; `n` = the inode's extent count. */
export async function bmapBtreeExtents(x: XfsVolume, ino: number, root: Buffer, at: number, n: number): Promise<Extent[]> {
  const w = x.where(ino, at)
  check(root.length >= 4 + 16, w, 'bmap B+tree root in a fork too small for one pointer')
  const level = root.readUInt16BE(0)
  const numrecs = root.readUInt16BE(2)
  const rootMax = Math.floor((root.length - 4) / 16)
  check(level >= 1 && level < MAX_LEVELS, w, `bmap B+tree root level ${level} is not 1..${MAX_LEVELS - 1}`)
  check(numrecs >= 1 && numrecs <= rootMax, w, `bmap B+tree root has ${numrecs} pointers, room for ${rootMax}`)
  const bs = x.sb.blockSize
  const hdr = x.sb.crc ? 72 : 24
  const maxrecs = Math.floor((bs - hdr) / 16)
  const out: Extent[] = []
  const seen = new Set<number>()
  const bufs = Array.from({ length: level }, () => Buffer.alloc(bs))
  /** Per level below the root: the previous block visited and its right sibling (for the sibling checks). */
  const prev: ({ fsb: number; right: bigint } | undefined)[] = new Array(level).fill(undefined)
  let after = 0

  const visit = async (fsb: number, lvl: number): Promise<void> => {
    const lin = x.linear(fsb)
    check(lin >= 0, w, `bmap B+tree block ${fsb} lies outside its AG`)
    const off = lin * bs
    const bw = x.where(ino, off)
    check(!seen.has(lin), bw, `bmap B+tree block ${fsb} is reached twice (a loop)`)
    seen.add(lin)
    const b = bufs[lvl]!
    await x.read(b, off)
    const magic = b.readUInt32BE(0)
    check(magic === (x.sb.crc ? BMA3_MAGIC : BMAP_MAGIC), bw, `bmap B+tree block ${fsb}: bad magic 0x${magic.toString(16)}`)
    if (x.sb.crc) {
      check(xfsCrcOk(b, 0, bs, 0x40), bw, `bmap B+tree block ${fsb}: CRC mismatch`)
      check(Number(b.readBigUInt64BE(0x18)) === x.daddr(lin), bw, `bmap B+tree block ${fsb} records another address (misdirected write)`)
      check(b.subarray(0x28, 0x38).equals(x.sb.metaUuid), bw, `bmap B+tree block ${fsb} belongs to another filesystem (UUID)`)
      check(Number(b.readBigUInt64BE(0x38)) === ino, bw, `bmap B+tree block ${fsb} is owned by inode ${b.readBigUInt64BE(0x38)}`)
    }
    const blevel = b.readUInt16BE(4)
    const nrec = b.readUInt16BE(6)
    check(blevel === lvl, bw, `bmap B+tree block ${fsb} has level ${blevel}, expected ${lvl}`)
    check(nrec >= 1 && nrec <= maxrecs, bw, `bmap B+tree block ${fsb} has ${nrec} records, room for ${maxrecs}`)
    const left = b.readBigUInt64BE(8)
    const p = prev[lvl]
    check(p === undefined ? left === NULL64 : left === BigInt(p.fsb), bw, `bmap B+tree block ${fsb}: left sibling ${left} is not the block before it`)
    check(p === undefined || p.right === BigInt(fsb), bw, `bmap B+tree block ${p?.fsb}: right sibling ${p?.right} is not the next block ${fsb}`)
    prev[lvl] = { fsb, right: b.readBigUInt64BE(0x10) }
    if (lvl === 0) {
      for (let i = 0; i < nrec; i++) {
        check(out.length < n, bw, `bmap B+tree holds more extents than the inode's ${n}`)
        const e = decodeBmbtRec(x, b, hdr + i * 16, after, bw)
        after = e.off + e.count
        out.push(e)
      }
      return
    }
    // copy the pointers: the level's buffer is reused by the children's siblings
    const ptrs: number[] = []
    for (let i = 0; i < nrec; i++) ptrs.push(ptr(b, hdr + maxrecs * 8 + i * 8))
    for (const c of ptrs) await visit(c, lvl - 1)
  }

  const ptr = (b: Buffer, pos: number): number => {
    const v = b.readBigUInt64BE(pos)
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(v)
  }
  const rootPtrs: number[] = []
  for (let i = 0; i < numrecs; i++) rootPtrs.push(ptr(root, 4 + rootMax * 8 + i * 8))
  for (const c of rootPtrs) await visit(c, level - 1)
  for (let lvl = 0; lvl < level; lvl++) {
    const last = prev[lvl]
    check(last === undefined || last.right === NULL64, w, `bmap B+tree block ${last?.fsb}: the last block of level ${lvl} has a right sibling ${last?.right}`)
  }
  check(out.length === n, w, `bmap B+tree holds ${out.length} extents, the inode says ${n}`)
  return out
}
