import type { VolumeReader } from '../volume.js'
import type { ExtSuper } from './ext4-superblock.js'
import { parseDesc, descBlockOf } from './ext4-groups.js'
import { readAt } from '../layout.js'
import { TrimSkip, need } from '../skip.js'
import { u16, u32 } from '../bytes/le.js'

// Just enough of ext inodes to find the journal's blocks.
// Inode: 0x04 i_size_lo, 0x20 i_flags (0x80000 EXTENTS), 0x28 i_block[15] (60 bytes), 0x6C i_size_high.
// Extent header (12 bytes): 0x0 magic 0xF30A, 0x2 entries, 0x4 max, 0x6 depth.
//   leaf:  0x0 logical u32, 0x4 length u16 (>32768: unwritten), 0x6 start hi u16, 0x8 start lo u32
//   index: 0x0 logical u32, 0x4 leaf lo u32, 0x8 leaf hi u16

/** A run of logical blocks mapped to physical blocks. */
export interface BlockRun {
  logical: number
  physical: number
  count: number
}

const MAX_RUNS = 1 << 20

export async function readInode(vol: VolumeReader, sb: ExtSuper, ino: number): Promise<Buffer> {
  need(ino >= 1 && sb.inodesPerGroup > 0, `inode ${ino} invalid`)
  const g = Math.floor((ino - 1) / sb.inodesPerGroup)
  need(g < sb.groups, `inode ${ino} beyond the last group`)
  const idx = (ino - 1) % sb.inodesPerGroup
  const dblock = await readAt(vol, descBlockOf(sb, g) * sb.blockSize, sb.blockSize)
  const desc = parseDesc(sb, dblock, (g % sb.descPerBlock) * sb.descSize)
  need(desc.inodeTable > 0 && desc.inodeTable < sb.blocks, `inode table of group ${g} outside the filesystem`)
  return readAt(vol, desc.inodeTable * sb.blockSize + idx * sb.inodeSize, sb.inodeSize)
}

/** Logical → physical block runs of an inode (extent tree or classic block map), sorted by logical block. */
export async function inodeBlockRuns(vol: VolumeReader, sb: ExtSuper, inode: Buffer): Promise<BlockRun[]> {
  const out: BlockRun[] = []
  const iblock = inode.subarray(0x28, 0x28 + 60)
  if (u32(inode, 0x20) & 0x80000) await walkExtents(vol, sb, iblock, out, 0)
  else await walkBlockMap(vol, sb, iblock, out)
  out.sort((a, b) => a.logical - b.logical)
  return out
}

function addRun(out: BlockRun[], logical: number, physical: number, count: number): void {
  const last = out[out.length - 1]
  if (last && last.logical + last.count === logical && last.physical + last.count === physical) {
    last.count += count
    return
  }
  if (out.length >= MAX_RUNS) throw new TrimSkip('inode maps too many block runs')
  out.push({ logical, physical, count })
}

async function walkExtents(vol: VolumeReader, sb: ExtSuper, node: Buffer, out: BlockRun[], level: number): Promise<void> {
  need(level <= 5, 'extent tree deeper than 5 levels')
  need(u16(node, 0) === 0xf30a, 'bad extent header magic')
  const entries = u16(node, 2)
  const depth = u16(node, 6)
  need(12 + entries * 12 <= node.length, 'extent header claims more entries than fit')
  for (let i = 0; i < entries; i++) {
    const o = 12 + 12 * i
    if (depth === 0) {
      let len = u16(node, o + 4)
      if (len > 32768) len -= 32768
      const start = u16(node, o + 6) * 2 ** 32 + u32(node, o + 8)
      need(start + len <= sb.blocks, 'extent points past the filesystem end')
      addRun(out, u32(node, o), start, len)
    } else {
      const leaf = u16(node, o + 8) * 2 ** 32 + u32(node, o + 4)
      need(leaf > 0 && leaf < sb.blocks, 'extent index points past the filesystem end')
      await walkExtents(vol, sb, await readAt(vol, leaf * sb.blockSize, sb.blockSize), out, level + 1)
    }
  }
}

async function walkBlockMap(vol: VolumeReader, sb: ExtSuper, iblock: Buffer, out: BlockRun[]): Promise<void> {
  for (let i = 0; i < 12; i++) {
    const p = u32(iblock, 4 * i)
    if (p) addRun(out, i, p, 1)
  }
  const per = sb.blockSize / 4
  await walkIndirect(vol, sb, u32(iblock, 48), 1, 12, out, per)
  await walkIndirect(vol, sb, u32(iblock, 52), 2, 12 + per, out, per)
  await walkIndirect(vol, sb, u32(iblock, 56), 3, 12 + per + per * per, out, per)
}

async function walkIndirect(vol: VolumeReader, sb: ExtSuper, blk: number, level: number, base: number, out: BlockRun[], per: number): Promise<void> {
  if (!blk) return
  need(blk < sb.blocks, 'indirect block past the filesystem end')
  const data = await readAt(vol, blk * sb.blockSize, sb.blockSize)
  const span = per ** (level - 1)
  for (let i = 0; i < per; i++) {
    const p = data.readUInt32LE(4 * i)
    if (!p) continue
    need(p < sb.blocks, 'block map points past the filesystem end')
    if (level === 1) addRun(out, base + i, p, 1)
    else await walkIndirect(vol, sb, p, level - 1, base + i * span, out, per)
  }
}

/** Physical block of logical block `l` in sorted runs, or undefined. */
export function physicalOf(runs: BlockRun[], l: number): number | undefined {
  let lo = 0
  let hi = runs.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const r = runs[mid]!
    if (l < r.logical) hi = mid - 1
    else if (l >= r.logical + r.count) lo = mid + 1
    else return r.physical + (l - r.logical)
  }
  return undefined
}
