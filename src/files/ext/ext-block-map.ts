// The classic ext2/3 block map in i_block: 12 direct block numbers, then a
// single, a double and a triple indirect block (each a block of u32 block
// numbers). 0 is a hole. The walk stops at the file's size and counts the
// blocks it visits against what the inode owns, so a hostile map cannot make
// it read more than the inode's share of the volume.

import { type ExtPlace, damaged } from './ext-errors.js'
import type { BlockExtent } from './ext-extent-tree.js'
import type { ExtInode } from './ext-inode.js'
import type { ExtVolume } from './ext-volume.js'

const DIRECT = 12

/** Logical blocks the map can address below the file's end: min(size in blocks, 2^32). */
function endBlock(v: ExtVolume, ino: ExtInode): number {
  return Math.min(Math.ceil(ino.size / v.blockSize), 2 ** 32)
}

/** The inode's mapped blocks in logical order, adjacent blocks merged. */
export async function* mappedBlocks(v: ExtVolume, ino: ExtInode): AsyncGenerator<BlockExtent> {
  const end = endBlock(v, ino)
  const per = v.blockSize / 4
  const budget = { blocks: ino.blocks + 4 }
  const p: ExtPlace = { kind: v.kind, ino: ino.ino, offset: ino.offset + 0x28 }
  let run: BlockExtent | undefined
  const emit = function* (logical: number, physical: number): Generator<BlockExtent> {
    if (run && run.logical + run.count === logical && run.physical + run.count === physical) {
      run.count++
      return
    }
    if (run) yield run
    run = { logical, physical, count: 1, unwritten: false }
  }
  const spend = (q: ExtPlace): void => {
    if (--budget.blocks < 0) throw damaged(q, 'block map', `maps more blocks than the inode owns (${ino.blocks})`)
  }
  async function* level(q: ExtPlace, blk: number, depth: number, base: number): AsyncGenerator<BlockExtent> {
    spend(q)
    const buf = await v.block(q, `indirect block (level ${depth})`, blk)
    const span = per ** (depth - 1)
    const inner: ExtPlace = { kind: v.kind, ino: ino.ino, offset: blk * v.blockSize }
    for (let i = 0; i < per && base + i * span < end; i++) {
      const b = buf.readUInt32LE(4 * i)
      if (!b) continue
      if (depth === 1) {
        spend(inner)
        v.checkBlocks(inner, `block map entry ${i}`, b, 1)
        yield* emit(base + i, b)
      } else yield* level(inner, b, depth - 1, base + i * span)
    }
  }
  for (let i = 0; i < DIRECT && i < end; i++) {
    const b = ino.iblock.readUInt32LE(4 * i)
    if (!b) continue
    spend(p)
    v.checkBlocks(p, `block map entry ${i}`, b, 1)
    yield* emit(i, b)
  }
  let base = DIRECT
  for (let depth = 1; depth <= 3 && base < end; depth++) {
    const b = ino.iblock.readUInt32LE(4 * (DIRECT + depth - 1))
    if (b) yield* level(p, b, depth, base)
    base += per ** depth
  }
  if (run) yield run
}

/** The block at logical `lblk` (count 1), or a hole of 1 block (physical 0). */
export async function mappedBlockAt(v: ExtVolume, ino: ExtInode, lblk: number): Promise<BlockExtent> {
  const hole = { logical: lblk, physical: 0, count: 1, unwritten: false }
  const per = v.blockSize / 4
  const p: ExtPlace = { kind: v.kind, ino: ino.ino, offset: ino.offset + 0x28 }
  if (lblk < DIRECT) {
    const b = ino.iblock.readUInt32LE(4 * lblk)
    if (!b) return hole
    v.checkBlocks(p, `block map entry ${lblk}`, b, 1)
    return { logical: lblk, physical: b, count: 1, unwritten: false }
  }
  let rel = lblk - DIRECT
  let depth = 1
  while (rel >= per ** depth) {
    rel -= per ** depth
    depth++
    if (depth > 3) return hole
  }
  let blk = ino.iblock.readUInt32LE(4 * (DIRECT + depth - 1))
  let q = p
  for (let d = depth; d >= 1; d--) {
    if (!blk) return hole
    const buf = await v.block(q, `indirect block (level ${d})`, blk)
    q = { kind: v.kind, ino: ino.ino, offset: blk * v.blockSize }
    const span = per ** (d - 1)
    const i = Math.floor(rel / span)
    rel -= i * span
    blk = buf.readUInt32LE(4 * i)
  }
  if (!blk) return hole
  v.checkBlocks(q, 'block map entry', blk, 1)
  return { logical: lblk, physical: blk, count: 1, unwritten: false }
}
