// The ext4 extent tree of an inode (i_flags EXTENTS): a root in i_block, and
// nodes of one block each below it.
//   header (12 bytes): 0x0 eh_magic 0xF30A, 0x2 eh_entries, 0x4 eh_max, 0x6 eh_depth
//   index (12):  0x0 ei_block (first logical block), 0x4 ei_leaf_lo u32, 0x8 ei_leaf_hi u16
//   leaf (12):   0x0 ee_block, 0x4 ee_len u16 (> 32768: unwritten, len - 32768), 0x6 ee_start_hi u16, 0x8 ee_start_lo u32
//   tail (metadata_csum, after eh_max entries of a block node): crc32c(inode seed, node bytes before it)
// Every node's depth must be its parent's minus one: a node cannot point back
// at itself or an ancestor, so the walk ends; the blocks visited are also
// bounded by what the inode owns.

import { crc32cRaw } from '../../trim/bytes/crc32c.js'
import { type ExtPlace, check, damaged } from './ext-errors.js'
import type { ExtInode } from './ext-inode.js'
import type { ExtVolume } from './ext-volume.js'

export const MAX_DEPTH = 5
const UNWRITTEN = 32768

/** Logical blocks [logical, logical+count) stored at physical..; unwritten extents read as zeros. */
export interface BlockExtent {
  logical: number
  physical: number
  count: number
  unwritten: boolean
}

interface Node {
  buf: Buffer
  /** Offset of the header inside buf. */
  at: number
  entries: number
  depth: number
  p: ExtPlace
}

/** Checks a node's header (and its checksum when it is a block of its own). */
function node(v: ExtVolume, ino: ExtInode, buf: Buffer, at: number, len: number, p: ExtPlace, wantDepth: number | undefined): Node {
  const magic = buf.readUInt16LE(at)
  check(magic === 0xf30a, p, 'extent node', `has magic 0x${magic.toString(16)}, not 0xf30a`)
  const entries = buf.readUInt16LE(at + 2)
  const max = buf.readUInt16LE(at + 4)
  const depth = buf.readUInt16LE(at + 6)
  check(12 + 12 * max <= len, p, 'extent node', `has eh_max ${max}, more than fit in ${len} bytes`)
  check(entries <= max, p, 'extent node', `has ${entries} entries, more than its eh_max ${max}`)
  check(depth <= MAX_DEPTH, p, 'extent tree', `depth ${depth} is more than ${MAX_DEPTH}`)
  if (wantDepth !== undefined) check(depth === wantDepth, p, 'extent node', `has depth ${depth} where its parent says ${wantDepth} (a loop or a misplaced block)`)
  if (wantDepth !== undefined && v.sb.metadataCsum) {
    const tail = 12 + 12 * max
    if (tail + 4 <= len) check(crc32cRaw(ino.csumSeed, buf, 0, tail) === buf.readUInt32LE(tail), p, 'extent block', 'has a bad checksum (metadata_csum)')
  }
  return { buf, at, entries, depth, p }
}

function rootNode(v: ExtVolume, ino: ExtInode): Node {
  return node(v, ino, ino.iblock, 0, 60, { kind: v.kind, ino: ino.ino, offset: ino.offset + 0x28 }, undefined)
}

async function child(v: ExtVolume, ino: ExtInode, n: Node, i: number): Promise<Node> {
  const o = n.at + 12 + 12 * i
  const blk = n.buf.readUInt32LE(o + 4) + n.buf.readUInt16LE(o + 8) * 2 ** 32
  const buf = await v.block(n.p, 'extent index', blk)
  return node(v, ino, buf, 0, v.blockSize, { kind: v.kind, ino: ino.ino, offset: blk * v.blockSize }, n.depth - 1)
}

function leafExtent(v: ExtVolume, n: Node, i: number): BlockExtent {
  const o = n.at + 12 + 12 * i
  const raw = n.buf.readUInt16LE(o + 4)
  const unwritten = raw > UNWRITTEN
  const count = unwritten ? raw - UNWRITTEN : raw
  const physical = n.buf.readUInt32LE(o + 8) + n.buf.readUInt16LE(o + 6) * 2 ** 32
  const logical = n.buf.readUInt32LE(o)
  check(count > 0, n.p, 'extent', `${i} has length 0`)
  v.checkBlocks(n.p, `extent ${i} (logical ${logical})`, physical, count)
  return { logical, physical, count, unwritten }
}

/** The inode's extents in logical order, checked as they are read; memory: one block per level. */
export async function* extents(v: ExtVolume, ino: ExtInode): AsyncGenerator<BlockExtent> {
  const budget = { nodes: ino.blocks + 4 }
  const state = { next: 0 }
  yield* walk(v, ino, rootNode(v, ino), budget, state)
}

async function* walk(v: ExtVolume, ino: ExtInode, n: Node, budget: { nodes: number }, state: { next: number }): AsyncGenerator<BlockExtent> {
  let prev = -1
  for (let i = 0; i < n.entries; i++) {
    const first = n.buf.readUInt32LE(n.at + 12 + 12 * i)
    check(first > prev, n.p, 'extent node', `entry ${i} starts at logical block ${first}, not after the previous entry (${prev})`)
    prev = first
    if (n.depth === 0) {
      const e = leafExtent(v, n, i)
      check(e.logical >= state.next, n.p, 'extent', `${i} (logical ${e.logical}) overlaps the previous extent ending at ${state.next}`)
      state.next = e.logical + e.count
      yield e
    } else {
      if (--budget.nodes < 0) throw damaged(n.p, 'extent tree', `visits more blocks than the inode owns (${ino.blocks})`)
      yield* walk(v, ino, await child(v, ino, n, i), budget, state)
    }
  }
}

/**
 * The extent holding logical block `lblk`, or the hole around it
 * (physical 0, count up to the next extent or 2^32 blocks): a descent of at
 * most MAX_DEPTH blocks, for random reads.
 */
export async function extentAt(v: ExtVolume, ino: ExtInode, lblk: number): Promise<BlockExtent> {
  let n = rootNode(v, ino)
  let limit = 2 ** 32
  for (let level = 0; ; level++) {
    if (level > MAX_DEPTH) throw damaged(n.p, 'extent tree', `is deeper than ${MAX_DEPTH}`)
    let pick = -1
    for (let i = 0; i < n.entries; i++) {
      const first = n.buf.readUInt32LE(n.at + 12 + 12 * i)
      if (first > lblk) {
        limit = Math.min(limit, first)
        break
      }
      pick = i
    }
    if (n.depth === 0) {
      if (pick >= 0) {
        const e = leafExtent(v, n, pick)
        if (lblk < e.logical + e.count) return e
        return { logical: e.logical + e.count, physical: 0, count: limit - (e.logical + e.count), unwritten: false }
      }
      return { logical: 0, physical: 0, count: limit, unwritten: false }
    }
    if (pick < 0) {
      // before the first index: a hole up to it (a well-formed tree starts at 0)
      return { logical: 0, physical: 0, count: limit, unwritten: false }
    }
    n = await child(v, ino, n, pick)
  }
}
