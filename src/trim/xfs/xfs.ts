import { randomInt } from 'node:crypto'
import type { AllocationMap, FilesystemReader, TrimOptions, VolumeReader, VolumeVerdict } from '../volume.js'
import { newAllocationMap, isUsed } from '../allocation-map.js'
import { readAt } from '../layout.js'
import { need, reasonOf } from '../skip.js'
import { XFS_SB_MAGIC, type XfsSuper, parseXfsSuper } from './xfs-superblock.js'
import { type Agf, parseAgf, firstFreeAgbno } from './xfs-agf.js'
import { agflBlocks } from './xfs-agfl.js'
import { allocMaxLevels, walkAllocBtree, type AllocTree } from './xfs-alloc-btree.js'
import { checkLog } from './xfs-log.js'

/**
 * XFS (v4 and v5): the allocation map has one bit per filesystem block, unit 0
 * at volume byte 0, all set (in use) except the extents of every AG's bnobt.
 * Each AG is read on its own (AGF, AGFL, both free-space B+trees), so memory is
 * the bitmap plus one block per B+tree level. The bnobt must agree with the
 * cntbt (the same extents as a multiset) and with the AGF counters (free
 * blocks, longest extent, B+tree blocks); AG headers, the free list, the
 * B+tree blocks, the other B+tree roots and the log must all be in use. The
 * log must be clean or covered (xfs-log.ts). Any doubt throws TrimSkip.
 */
export const readXfs: FilesystemReader = async (vol, opts) => {
  if (vol.size < 512) return undefined
  const first = await readAt(vol, 0, 512)
  if (first.readUInt32BE(0) !== XFS_SB_MAGIC) return undefined
  let label: string | undefined
  const details: Record<string, unknown> = {}
  try {
    const sectSize = first.readUInt16BE(0x66)
    need(sectSize >= 512 && sectSize <= 32768 && sectSize <= vol.size, `XFS: bad sector size ${sectSize}`)
    const sb = parseXfsSuper(sectSize === 512 ? first : await readAt(vol, 0, sectSize), vol.size)
    label = sb.label || undefined
    Object.assign(details, {
      version: sb.version,
      blockSize: sb.blockSize,
      sectorSize: sb.sectSize,
      blocks: sb.dblocks,
      agCount: sb.agcount,
      agBlocks: sb.agblocks,
      uuid: uuidString(sb.uuid),
      features: { roCompat: hex(sb.roCompat), incompat: hex(sb.incompat), logIncompat: hex(sb.logIncompat), versionnum: hex(sb.versionnum) },
    })
    return { ...(await analyse(vol, sb, opts, details)), ...(label ? { label } : {}) }
  } catch (e) {
    return { decision: 'skip', kind: 'xfs', ...(label ? { label } : {}), reason: reasonOf(e), details }
  }
}

async function analyse(vol: VolumeReader, sb: XfsSuper, opts: TrimOptions, details: Record<string, unknown>): Promise<VolumeVerdict> {
  const log = await checkLog(vol, sb)
  details.log = log.summary
  details.journalMode = opts.journal
  const map = newAllocationMap(sb.blockSize, 0, sb.dblocks)
  map.used.fill(0xff)
  const maxLevels = allocMaxLevels(sb)
  const sector = Buffer.alloc(sb.sectSize)
  let free = 0
  let extents = 0
  let sbFree = 0
  for (let agno = 0; agno < sb.agcount; agno++) {
    const agStart = agno * sb.agblocks * sb.blockSize
    await vol.read(sector, agStart + sb.sectSize)
    const agf = parseAgf(sb, agno, sector, maxLevels)
    await vol.read(sector, agStart + 3 * sb.sectSize)
    const agfl = agflBlocks(sb, agf, sector)
    const r = await readAg(vol, sb, agf, agfl, map)
    free += agf.freeblks
    extents += r.extents
    sbFree += agf.freeblks + agf.flcount + agf.btreeblks
  }
  const lo = sb.logBlock
  for (let b = lo; b < lo + sb.logBlocks; b++) need(isUsed(map, b), `XFS: log block ${b} is marked free`)
  details.freeExtents = extents
  details.sbFreeBlocks = sb.fdblocks
  details.agFreeBlocks = sbFree
  // A clean unmount writes exact counters; a frozen filesystem's superblock may lag (reservations held).
  if (log.state === 'clean') need(sb.fdblocks === sbFree, `XFS: the superblock counts ${sb.fdblocks} free blocks, the AGs ${sbFree}`)
  return { decision: 'trim', kind: 'xfs', map, freeBytes: free * sb.blockSize, details }
}

/** A multiset of (start, count) pairs as sums of keyed mixes: equal sets give equal sums whatever the order. */
class ExtentSet {
  constructor(private keys: number[]) {}
  readonly sums = [0, 0, 0, 0]
  records = 0
  blocks = 0
  longest = 0
  add(s: number, c: number): void {
    for (let i = 0; i < 4; i++) this.sums[i] = (this.sums[i]! + mix(s, c, this.keys[i]!)) >>> 0
    this.records++
    this.blocks += c
    if (c > this.longest) this.longest = c
  }
  equals(o: ExtentSet): boolean {
    return this.records === o.records && this.blocks === o.blocks && this.sums.every((v, i) => v === o.sums[i])
  }
}

function fmix(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

const mix = (s: number, c: number, k: number): number => fmix(fmix(s ^ k) ^ Math.imul(c, 0x9e3779b1) ^ (k >>> 7))

async function readAg(vol: VolumeReader, sb: XfsSuper, agf: Agf, agfl: number[], map: AllocationMap): Promise<{ extents: number }> {
  const where = `XFS AG ${agf.agno}`
  const base = agf.agno * sb.agblocks
  // random keys: a crafted image cannot aim at a collision it cannot compute
  const keys = [0, 1, 2, 3].map(() => randomInt(0, 2 ** 32 - 1))
  const byBno = new ExtentSet(keys)
  const bnoBlocks = await walkAllocBtree(vol, sb, agf, 'bno', {
    record: (s, c) => {
      byBno.add(s, c)
      clearRange(map, base + s, c)
    },
  })
  need(byBno.blocks === agf.freeblks, `${where}: the bnobt holds ${byBno.blocks} free blocks, the AGF says ${agf.freeblks}`)
  need(byBno.longest === agf.longest, `${where}: the longest bnobt extent is ${byBno.longest} blocks, the AGF says ${agf.longest}`)
  const used =
    (what: string) =>
    (agbno: number): void =>
      need(isUsed(map, base + agbno), `${where}: ${what} block ${agbno} is marked free`)
  const byCnt = new ExtentSet(keys)
  const walkUsed = (tree: AllocTree, record?: (s: number, c: number) => void): Promise<number> => walkAllocBtree(vol, sb, agf, tree, { block: used(`${tree}bt`), ...(record ? { record } : {}) })
  const cntBlocks = await walkUsed('cnt', (s, c) => byCnt.add(s, c))
  need(byCnt.equals(byBno), `${where}: the cntbt and the bnobt do not hold the same free extents`)
  await walkUsed('bno')
  if (sb.lazyCounts) {
    const want = bnoBlocks - 1 + cntBlocks - 1 + (sb.rmap ? agf.rmapBlocks - 1 : 0)
    need(want === agf.btreeblks, `${where}: the free-space B+trees have ${want} blocks besides their roots, the AGF says ${agf.btreeblks}`)
  }
  for (let b = 0; b < firstFreeAgbno(sb); b++) used('header')(b)
  agfl.forEach(used('free list'))
  if (sb.rmap) used('rmapbt root')(agf.rmapRoot)
  if (sb.reflink) used('refcountbt root')(agf.refcountRoot)
  return { extents: byBno.records }
}

/** Clears bits [from, from + n) of the map: whole bytes at once. */
function clearRange(map: AllocationMap, from: number, n: number): void {
  let i = from
  const end = from + n
  for (; i < end && (i & 7) !== 0; i++) map.used[i >>> 3]! &= ~(1 << (i & 7)) & 0xff
  const bytesEnd = (end - i) >>> 3
  if (bytesEnd > 0) {
    map.used.fill(0, i >>> 3, (i >>> 3) + bytesEnd)
    i += bytesEnd * 8
  }
  for (; i < end; i++) map.used[i >>> 3]! &= ~(1 << (i & 7)) & 0xff
}

const hex = (v: number): string => '0x' + (v >>> 0).toString(16)
const uuidString = (u: Buffer): string => u.toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-')
