import type { AllocationMap, VolumeReader } from '../volume.js'
import type { ExtSuper } from './ext4-superblock.js'
import { INCOMPAT } from './ext4-superblock.js'
import { type GroupDesc, BG_INODE_UNINIT, inodeTableBlocks } from './ext4-groups.js'
import { readAt } from '../layout.js'
import { TrimSkip, need } from '../skip.js'
import { u16, u32 } from '../bytes/le.js'

// The inode fields the cross-check reads (ext4 inode, little-endian):
//   0x00 i_mode (0xF000 type: 0x4000 dir, 0x8000 file, 0xA000 symlink)   0x1A i_links_count
//   0x1C i_blocks_lo   0x20 i_flags (0x80000 EXTENTS, 0x10000000 INLINE_DATA)
//   0x28 i_block[15]: 12 direct, indirect, double, triple block numbers; or an extent tree root
//   0x68 i_file_acl_lo (extended-attribute block)   0x76 i_file_acl_high (64bit)
// Extent node: header 0xF30A, entries at +2, depth at +6; 12-byte entries
//   leaf: start hi u16 at +6, lo u32 at +8, length u16 at +4 (> 32768: unwritten)
//   index: child lo u32 at +4, hi u16 at +8

const S_IFMT = 0xf000
const WITH_BLOCKS = new Set([0x4000, 0x8000, 0xa000])
const EXTENTS_FL = 0x80000
const INLINE_DATA_FL = 0x10000000
/** Inode-table bytes read at a time: one reused buffer, whatever the filesystem size. */
const CHUNK = 1 << 20

/**
 * e2fsck's pass 5 rule, for filesystems whose bitmaps carry no checksum: a
 * block an in-use inode references (data, extent-tree and indirect blocks,
 * its extended-attribute block) must be marked used in the block bitmap.
 * Walks the inode tables group by group through one 1 MiB buffer and checks
 * each referenced run against the map as it is found: memory stays bounded
 * whatever the filesystem size; nothing is sized by an on-disk field.
 * Throws TrimSkip at the first referenced block the bitmaps call free.
 */
export async function checkReferencedBlocksUsed(vol: VolumeReader, sb: ExtSuper, map: AllocationMap, descOf: (g: number) => Promise<GroupDesc>): Promise<{ inodesChecked: number }> {
  const itb = inodeTableBlocks(sb)
  const perChunk = Math.max(1, Math.floor(CHUNK / sb.blockSize))
  const buf = Buffer.alloc(Math.min(itb, perChunk) * sb.blockSize)
  const ctx: Ctx = { vol, sb, map, ino: 0 }
  let inodesChecked = 0
  for (let g = 0; g < sb.groups; g++) {
    const desc = await descOf(g)
    // with group checksums (the descriptor's checksum was verified) never-used inodes are known
    if (sb.gdtCsum && desc.flags & BG_INODE_UNINIT) continue
    const live = sb.gdtCsum ? Math.max(0, sb.inodesPerGroup - desc.itableUnused) : sb.inodesPerGroup
    need(desc.inodeTable + itb <= sb.blocks, `group ${g}: inode table past the filesystem end`)
    const liveBytes = live * sb.inodeSize
    for (let off = 0; off < liveBytes; off += buf.length) {
      const n = Math.min(buf.length, Math.ceil((liveBytes - off) / sb.blockSize) * sb.blockSize)
      const part = buf.subarray(0, n)
      await vol.read(part, desc.inodeTable * sb.blockSize + off)
      for (let i = 0; i < n && off + i < liveBytes; i += sb.inodeSize) {
        ctx.ino = g * sb.inodesPerGroup + (off + i) / sb.inodeSize + 1
        if (await checkInode(ctx, part.subarray(i, i + sb.inodeSize))) inodesChecked++
      }
    }
  }
  return { inodesChecked }
}

interface Ctx {
  vol: VolumeReader
  sb: ExtSuper
  map: AllocationMap
  /** The inode being checked, for the reason. */
  ino: number
}

async function checkInode(c: Ctx, inode: Buffer): Promise<boolean> {
  if (u16(inode, 0x1a) === 0) return false
  const type = u16(inode, 0) & S_IFMT
  if (!WITH_BLOCKS.has(type)) return false
  const acl = u32(inode, 0x68) + (c.sb.incompat & INCOMPAT.BIT64 ? u16(inode, 0x76) * 2 ** 32 : 0)
  if (acl) checkRun(c, acl, 1, 'extended-attribute block')
  const flags = u32(inode, 0x20)
  if (flags & INLINE_DATA_FL) return true
  const iblock = inode.subarray(0x28, 0x28 + 60)
  if (flags & EXTENTS_FL) await walkExtents(c, Buffer.from(iblock), 0)
  // a fast symlink keeps its target in i_block and owns no block
  else if (!(type === 0xa000 && u32(inode, 0x1c) === (acl ? c.sb.blockSize / 512 : 0))) await walkBlockMap(c, iblock)
  return true
}

/** Every block of [start, start+count) must be marked used. */
function checkRun(c: Ctx, start: number, count: number, what: string): void {
  need(start + count <= c.sb.blocks && start >= 0, `inode ${c.ino}: ${what} ${start} (+${count}) past the filesystem end`)
  const { map, sb } = c
  const first = Math.max(start, sb.firstDataBlock)
  if (first >= start + count) return
  const u0 = Math.floor((first - sb.firstDataBlock) / sb.ratio)
  const u1 = Math.floor((start + count - 1 - sb.firstDataBlock) / sb.ratio)
  for (let u = u0; u <= u1; ) {
    if ((u & 7) === 0 && u + 8 <= u1 + 1 && map.used[u >>> 3] === 0xff) {
      u += 8
      continue
    }
    if (u >= map.units || !(map.used[u >>> 3]! & (1 << (u & 7)))) {
      if (u >= map.units) return
      const b = sb.firstDataBlock + u * sb.ratio
      throw new TrimSkip(`block ${b} belongs to inode ${c.ino} (${what}) but the block bitmap marks it free: bitmaps not trusted (e2fsck pass 5 would fix them)`)
    }
    u++
  }
}

async function walkExtents(c: Ctx, node: Buffer, level: number): Promise<void> {
  need(level <= 5, `inode ${c.ino}: extent tree deeper than 5 levels`)
  need(u16(node, 0) === 0xf30a, `inode ${c.ino}: bad extent header magic`)
  const entries = u16(node, 2)
  const depth = u16(node, 6)
  need(12 + entries * 12 <= node.length, `inode ${c.ino}: extent header claims more entries than fit`)
  for (let i = 0; i < entries; i++) {
    const o = 12 + 12 * i
    if (depth === 0) {
      let len = u16(node, o + 4)
      if (len > 32768) len -= 32768
      checkRun(c, u16(node, o + 6) * 2 ** 32 + u32(node, o + 8), len, 'data')
    } else {
      const child = u16(node, o + 8) * 2 ** 32 + u32(node, o + 4)
      checkRun(c, child, 1, 'extent-tree block')
      // one block per level is alive at a time: depth ≤ 5 bounds the copies
      await walkExtents(c, await readAt(c.vol, child * c.sb.blockSize, c.sb.blockSize), level + 1)
    }
  }
}

async function walkBlockMap(c: Ctx, iblock: Buffer): Promise<void> {
  for (let i = 0; i < 12; i++) {
    const p = u32(iblock, 4 * i)
    if (p) checkRun(c, p, 1, 'data')
  }
  for (let level = 1; level <= 3; level++) await walkIndirect(c, u32(iblock, 44 + 4 * level), level)
}

async function walkIndirect(c: Ctx, blk: number, level: number): Promise<void> {
  if (!blk) return
  checkRun(c, blk, 1, 'indirect block')
  const data = await readAt(c.vol, blk * c.sb.blockSize, c.sb.blockSize)
  for (let i = 0; i < c.sb.blockSize / 4; i++) {
    const p = data.readUInt32LE(4 * i)
    if (!p) continue
    if (level === 1) checkRun(c, p, 1, 'data')
    else await walkIndirect(c, p, level - 1)
  }
}
