import { need } from '../skip.js'
import { be32 } from '../bytes/le.js'
import type { VolumeReader } from '../volume.js'
import type { XfsSuper } from './xfs-superblock.js'
import { type Agf, firstFreeAgbno } from './xfs-agf.js'
import { NULL_AGBLOCK, parseBlockHeader, shortHeaderSize } from './xfs-btree-block.js'

// The free-space B+trees of an AG: the bnobt (by block number) and the cntbt
// (by size, then block number) hold the same free extents. A record and a key
// are both (ar_startblock u32, ar_blockcount u32), big-endian; node pointers
// are u32 AG block numbers.

export type AllocTree = 'bno' | 'cnt'

const MAGIC: Record<AllocTree, { v4: number; v5: number }> = {
  bno: { v4: 0x41425442 /* ABTB */, v5: 0x41423342 /* AB3B */ },
  cnt: { v4: 0x41425443 /* ABTC */, v5: 0x41423343 /* AB3C */ },
}

/** Records per leaf and keys per node. */
function maxRecs(sb: XfsSuper): { leaf: number; node: number } {
  const room = sb.blockSize - shortHeaderSize(sb)
  return { leaf: Math.floor(room / 8), node: Math.floor(room / 12) }
}

/** The tallest free-space B+tree an AG of this size can need (xfs_alloc_compute_maxlevels). */
export function allocMaxLevels(sb: XfsSuper): number {
  const { leaf, node } = maxRecs(sb)
  let blocks = Math.ceil(Math.floor((sb.agblocks + 1) / 2) / Math.floor(leaf / 2))
  let levels = 1
  while (blocks > 1) {
    blocks = Math.ceil(blocks / Math.floor(node / 2))
    levels++
  }
  return levels
}

export interface WalkVisitor {
  record?(start: number, count: number): void
  block?(agbno: number): void
}

/**
 * Walks one free-space B+tree of an AG from its root, in key order, calling
 * the visitor for every leaf record and every block. Every block is checked
 * (magic, CRC and self-description on v5, level exactly one below its parent,
 * record count, sibling links), every record lies inside the AG past its
 * headers, records are in strictly increasing order (bnobt: not overlapping
 * either) and every key equals its child's first record. A cycle or a block
 * reached twice breaks the sibling chain or the order, so the walk ends; it
 * also stops after as many blocks as the AG has. Returns the blocks visited.
 */
export async function walkAllocBtree(vol: VolumeReader, sb: XfsSuper, agf: Agf, tree: AllocTree, v: WalkVisitor): Promise<number> {
  const root = tree === 'bno' ? agf.bnoRoot : agf.cntRoot
  const levels = tree === 'bno' ? agf.bnoLevels : agf.cntLevels
  const magic = sb.crc ? MAGIC[tree].v5 : MAGIC[tree].v4
  const what = `${tree}bt`
  const hdr = shortHeaderSize(sb)
  const max = maxRecs(sb)
  const bufs = Array.from({ length: levels }, () => Buffer.alloc(sb.blockSize))
  const prevBlock = new Array<number>(levels).fill(NULL_AGBLOCK)
  const prevRight = new Array<number>(levels).fill(NULL_AGBLOCK)
  const agBase = agf.agno * sb.agblocks
  const firstFree = firstFreeAgbno(sb)
  let blocks = 0
  let lastA = -1 // previous record: bno (start, end), cnt (count, start)
  let lastB = -1
  const where = (b: number): string => `XFS AG ${agf.agno}: ${what} block ${b}`
  /** Orders (a, b) pairs: bno by start only, cnt by count then start. */
  const before = (a1: number, b1: number, a2: number, b2: number): boolean => (tree === 'bno' ? a1 < a2 : a1 < a2 || (a1 === a2 && b1 < b2))
  const key = (s: number, c: number): [number, number] => (tree === 'bno' ? [s, 0] : [c, s])

  async function visit(agbno: number, level: number, lowKey: [number, number] | undefined): Promise<void> {
    need(agbno >= firstFree && agbno < agf.length, `${where(agbno)}: outside the AG`)
    need(++blocks <= agf.length, `XFS AG ${agf.agno}: ${what} has more blocks than the AG`)
    const buf = bufs[level]!
    await vol.read(buf, (agBase + agbno) * sb.blockSize)
    const h = parseBlockHeader(sb, agf.agno, agbno, buf, magic, what)
    need(h.level === level, `${where(agbno)}: level ${h.level}, expected ${level}`)
    const isRoot = level === levels - 1
    need(h.numrecs <= (level === 0 ? max.leaf : max.node) && (h.numrecs >= 1 || (isRoot && level === 0)), `${where(agbno)}: ${h.numrecs} records`)
    need(h.left === prevBlock[level]!, `${where(agbno)}: left sibling ${h.left}, expected ${prevBlock[level]}`)
    if (prevBlock[level] !== NULL_AGBLOCK) need(prevRight[level] === agbno, `${where(prevBlock[level]!)}: right sibling is not the next block`)
    prevBlock[level] = agbno
    prevRight[level] = h.right
    v.block?.(agbno)
    if (level === 0) {
      for (let i = 0; i < h.numrecs; i++) {
        const s = be32(buf, hdr + 8 * i)
        const c = be32(buf, hdr + 8 * i + 4)
        need(c >= 1 && s >= firstFree && s + c <= agf.length, `${where(agbno)}: free extent ${s}+${c} outside the AG`)
        const [a, b] = key(s, c)
        if (i === 0 && lowKey) need(a === lowKey[0] && b === lowKey[1], `${where(agbno)}: first record does not match its parent's key`)
        if (tree === 'bno') need(s >= lastB, `${where(agbno)}: free extent ${s}+${c} out of order or overlapping`)
        else need(lastA < 0 || before(lastA, lastB, a, b), `${where(agbno)}: free extent ${s}+${c} out of order`)
        if (tree === 'bno') {
          lastA = s
          lastB = s + c
        } else {
          lastA = a
          lastB = b
        }
        v.record?.(s, c)
      }
      return
    }
    const keys: [number, number][] = []
    for (let i = 0; i < h.numrecs; i++) {
      const k = key(be32(buf, hdr + 8 * i), be32(buf, hdr + 8 * i + 4))
      if (i > 0) need(before(keys[i - 1]![0], keys[i - 1]![1], k[0], k[1]), `${where(agbno)}: keys out of order`)
      keys.push(k)
    }
    if (lowKey) need(keys[0]![0] === lowKey[0] && keys[0]![1] === lowKey[1], `${where(agbno)}: first key does not match its parent's key`)
    const ptrs: number[] = []
    for (let i = 0; i < h.numrecs; i++) ptrs.push(be32(buf, hdr + max.node * 8 + 4 * i))
    for (let i = 0; i < ptrs.length; i++) await visit(ptrs[i]!, level - 1, keys[i])
  }

  await visit(root, levels - 1, undefined)
  for (let l = 0; l < levels; l++) need(prevRight[l] === NULL_AGBLOCK, `XFS AG ${agf.agno}: ${what} level ${l} has a right sibling past its last block`)
  return blocks
}
