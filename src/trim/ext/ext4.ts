import type { AllocationMap, FilesystemReader, TrimOptions, VolumeReader, VolumeVerdict } from '../volume.js'
import { type ExtSuper, parseExtSuper, extKind, rawFeatures, INCOMPAT } from './ext4-superblock.js'
import {
  type GroupDesc,
  BG_BLOCK_UNINIT,
  parseDesc,
  descChecksum,
  bitmapChecksumOk,
  descBlockOf,
  groupFirstBlock,
  groupClusters,
  baseMetaBlocks,
  fixedMetaRanges,
  inodeTableBlocks,
} from './ext4-groups.js'
import { readJournal, type JournalState } from './jbd2.js'
import { checkReferencedBlocksUsed } from './ext4-references.js'
import { newAllocationMap, countFreeUnits, isUsed, POPCOUNT } from '../allocation-map.js'
import { readAt } from '../layout.js'
import { TrimSkip, need, reasonOf } from '../skip.js'

/**
 * ext2/3/4: the allocation map is the concatenation of the groups' block
 * bitmaps (one bit per cluster, unit 0 = block s_first_data_block), checked
 * against everything that can contradict it (§1 of the reference): descriptor
 * and bitmap checksums, per-group free counts, metadata blocks marked used,
 * the journal. Any doubt throws TrimSkip.
 */
export const readExt: FilesystemReader = async (vol, opts) => {
  if (vol.size < 2048) return undefined
  const raw = await readAt(vol, 1024, 1024)
  if (raw.readUInt16LE(0x38) !== 0xef53) return undefined
  const kind = extKind(rawFeatures(raw))
  let label: string | undefined
  try {
    const sb = parseExtSuper(raw, vol.size)
    label = sb.label || undefined
    return { ...(await analyzeExt(vol, sb, opts)), kind, ...(label ? { label } : {}) }
  } catch (e) {
    return { decision: 'skip', kind, ...(label ? { label } : {}), reason: reasonOf(e) }
  }
}

/** Reads descriptors group by group, one descriptor block in memory at a time. */
class DescriptorCursor {
  private block = -1
  private data: Buffer | undefined
  constructor(
    private vol: VolumeReader,
    private sb: ExtSuper,
  ) {}
  async get(g: number): Promise<{ desc: GroupDesc; raw: Buffer; off: number; block: number }> {
    const block = descBlockOf(this.sb, g)
    need(block < this.sb.blocks, `descriptor block of group ${g} past the filesystem end`)
    if (block !== this.block || !this.data) {
      this.data = await readAt(this.vol, block * this.sb.blockSize, this.sb.blockSize)
      this.block = block
    }
    const off = (g % this.sb.descPerBlock) * this.sb.descSize
    return { desc: parseDesc(this.sb, this.data, off), raw: this.data, off, block }
  }
}

async function analyzeExt(vol: VolumeReader, sb: ExtSuper, opts: TrimOptions): Promise<Omit<Extract<VolumeVerdict, { decision: 'trim' }>, 'kind'>> {
  const bitmapBlocks = new Set<number>()
  const gdtBlocks = new Set<number>()
  if (opts.journal === 'union') {
    const cur = new DescriptorCursor(vol, sb)
    for (let g = 0; g < sb.groups; g++) {
      const { desc, block } = await cur.get(g)
      bitmapBlocks.add(desc.blockBitmap)
      gdtBlocks.add(block)
    }
  }
  const journal = await readJournal(vol, sb, opts.journal, { isBitmap: b => bitmapBlocks.has(b), isGdt: b => gdtBlocks.has(b) })
  const units = Math.floor((sb.blocks - sb.firstDataBlock) / sb.ratio)
  const map = newAllocationMap(sb.clusterSize, sb.firstDataBlock * sb.blockSize, units)
  const stats = await fillBitmaps(vol, sb, map, journal)
  await checkMetadataUsed(vol, sb, map)
  const cursor = new DescriptorCursor(vol, sb)
  // without metadata_csum nothing proves a bitmap is the one the filesystem wrote (a relocated or
  // stale one reads as all free): what the inodes reference must then be marked used
  const refs = sb.metadataCsum ? {} : await checkReferencedBlocksUsed(vol, sb, map, async g => (await cursor.get(g)).desc)
  const freeUnits = countFreeUnits(map)
  return {
    decision: 'trim',
    map,
    freeBytes: freeUnits * map.unit,
    details: {
      blockSize: sb.blockSize,
      clusterSize: sb.clusterSize,
      blocks: sb.blocks,
      groups: sb.groups,
      descSize: sb.descSize,
      features: { compat: hex(sb.compat), incompat: hex(sb.incompat), roCompat: hex(sb.roCompat) },
      uuid: uuidString(sb.uuid),
      journal: journal.state,
      ...stats,
      ...refs,
    },
  }
}

const hex = (v: number): string => '0x' + (v >>> 0).toString(16)
const uuidString = (u: Buffer): string => u.toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-')

async function fillBitmaps(vol: VolumeReader, sb: ExtSuper, map: AllocationMap, journal: JournalState): Promise<Record<string, number>> {
  const csumOn = sb.metadataCsum || sb.gdtCsum
  const bmBytes = sb.clustersPerGroup / 8
  const bm = Buffer.alloc(bmBytes)
  const cur = new DescriptorCursor(vol, sb)
  const stats = { blockUninitGroups: 0, journaledGroups: 0, clustersUsedOnlyInJournal: 0 }
  for (let g = 0; g < sb.groups; g++) {
    const { desc, raw, off, block } = await cur.get(g)
    const versions = [desc, ...(journal.gdtCopies.get(block) ?? []).map(copy => parseDesc(sb, copy, off))]
    const journaled = versions.length > 1 || journal.bitmapCopies.has(desc.blockBitmap)
    if (csumOn) {
      const ok =
        descChecksum(sb, g, raw, off) === desc.checksum || (journaled && (journal.gdtCopies.get(block) ?? []).some(copy => descChecksum(sb, g, copy, off) === parseDesc(sb, copy, off).checksum))
      need(ok, `group ${g} descriptor checksum mismatch`)
    } else {
      need(!versions.some(v => v.flags & BG_BLOCK_UNINIT), `group ${g} has BLOCK_UNINIT but no group checksums`)
    }
    need(
      versions.every(v => v.blockBitmap === desc.blockBitmap),
      `group ${g}: a journaled descriptor moves the block bitmap`,
    )
    need(desc.blockBitmap > 0 && desc.blockBitmap < sb.blocks, `group ${g} block bitmap outside the filesystem`)
    bm.fill(0)
    const anyUninit = versions.some(v => v.flags & BG_BLOCK_UNINIT)
    if (anyUninit) {
      stats.blockUninitGroups++
      synthesiseUninit(sb, g, desc, bm)
    }
    if (!versions.every(v => v.flags & BG_BLOCK_UNINIT)) {
      const disk = await readAt(vol, desc.blockBitmap * sb.blockSize, sb.blockSize)
      if (sb.metadataCsum && !journaled) need(bitmapChecksumOk(sb, desc, disk), `metadata_csum: block bitmap checksum of group ${g} does not match`)
      for (let i = 0; i < bmBytes; i++) bm[i]! |= disk[i]!
      const copy = journal.bitmapCopies.get(desc.blockBitmap)
      if (copy) {
        const before = popcount(bm, groupClusters(sb, g))
        for (let i = 0; i < bmBytes; i++) bm[i]! |= copy[i]!
        stats.clustersUsedOnlyInJournal += popcount(bm, groupClusters(sb, g)) - before
      }
    }
    if (journaled) stats.journaledGroups++
    const ncl = groupClusters(sb, g)
    const free = ncl - popcount(bm, ncl)
    need(journaled || free === desc.freeClusters, `group ${g}: block bitmap shows ${free} free clusters, the descriptor says ${desc.freeClusters}`)
    const at = (g * sb.clustersPerGroup) / 8
    const n = Math.min(bmBytes, map.used.length - at)
    if (n > 0) map.used.set(bm.subarray(0, n), at)
  }
  return stats
}

function popcount(bm: Uint8Array, bits: number): number {
  let n = 0
  const full = bits >>> 3
  for (let i = 0; i < full; i++) n += POPCOUNT[bm[i]!]!
  for (let c = full * 8; c < bits; c++) n += (bm[c >>> 3]! >> (c & 7)) & 1
  return n
}

function setBit(bm: Uint8Array, c: number): void {
  bm[c >>> 3]! |= 1 << (c & 7)
}

/** The bitmap the kernel builds for a BLOCK_UNINIT group (ext4_init_block_bitmap). */
function synthesiseUninit(sb: ExtSuper, g: number, desc: GroupDesc, bm: Uint8Array): void {
  const base = Math.ceil(baseMetaBlocks(sb, g) / sb.ratio)
  need(base <= groupClusters(sb, g), `group ${g}: superblock and descriptor copies larger than the group`)
  for (let c = 0; c < base; c++) setBit(bm, c)
  const gs = groupFirstBlock(sb, g)
  const itb = inodeTableBlocks(sb)
  const flex = (sb.incompat & INCOMPAT.FLEX_BG) !== 0
  const mark = (b: number): void => {
    if (b >= gs && b < gs + sb.blocksPerGroup) setBit(bm, Math.floor((b - gs) / sb.ratio))
    else if (!flex) throw new TrimSkip(`group ${g}: metadata outside its group without flex_bg`)
  }
  mark(desc.blockBitmap)
  mark(desc.inodeBitmap)
  for (let i = 0; i < itb; i++) mark(desc.inodeTable + i)
  for (let c = groupClusters(sb, g); c < sb.clustersPerGroup; c++) setBit(bm, c)
}

/** Defence in depth: every superblock/GDT copy, reserved GDT, bitmap and inode-table block must be marked used. */
async function checkMetadataUsed(vol: VolumeReader, sb: ExtSuper, map: AllocationMap): Promise<void> {
  const itb = inodeTableBlocks(sb)
  const cur = new DescriptorCursor(vol, sb)
  const used = (b: number): boolean => b < sb.firstDataBlock || isUsed(map, Math.floor((b - sb.firstDataBlock) / sb.ratio))
  for (let g = 0; g < sb.groups; g++) {
    const { desc } = await cur.get(g)
    const ranges: [number, number][] = [...fixedMetaRanges(sb, g), [desc.blockBitmap, 1], [desc.inodeBitmap, 1], [desc.inodeTable, itb]]
    for (const [start, n] of ranges) {
      need(start + n <= sb.blocks, `group ${g}: metadata block ${start + n - 1} past the filesystem end`)
      for (let b = start; b < start + n; b++) {
        if (!used(b)) throw new TrimSkip(`metadata block ${b} (group ${g}) is marked free: bitmap not trusted`)
      }
    }
  }
}
