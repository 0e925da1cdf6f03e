import type { VolumeReader } from '../volume.js'
import { need } from '../skip.js'
import { u64 } from '../bytes/le.js'
import type { BtrfsChecksum } from './btrfs-checksum.js'
import type { ChunkMap } from './btrfs-chunk.js'
import { HEADER_SIZE, parseTreeHeader } from './btrfs-header.js'
import { type BtrfsKey, type LeafItem, ITEM_SIZE, KEY_PTR_SIZE, compareKeys, keyString, parseItem, parseKey } from './btrfs-key.js'
import type { BtrfsSuper } from './btrfs-superblock.js'

/** Where a tree starts, as the superblock or a root item names it. */
export interface TreeRoot {
  name: string
  /** Tree id every block of the tree must carry as its owner (1 root, 2 extent, 3 chunk, 4 dev, 10 free space, 11 block group). */
  owner: bigint
  bytenr: number
  level: number
  generation: number
}

export interface WalkContext {
  vol: VolumeReader
  sb: BtrfsSuper
  chunks: ChunkMap
  csum: BtrfsChecksum
  /** Most tree blocks one walk may visit: what the metadata and system chunks can hold. */
  maxNodes: number
}

/** Called for every leaf item in key order; `leaf` is reused after the call returns. */
export type ItemVisitor = (leaf: Buffer, item: LeafItem) => void

/**
 * Streams the items of one tree in key order, depth first, holding one tree
 * block per level (at most 8). Every block is read through the chunk map
 * from a chunk of type `allowed`, must pass its checksum and carry the
 * expected address, fsid, owner, level and generation (the parent pointer's).
 * Keys must rise strictly across the whole walk and each child's first key
 * must equal its parent pointer's key; with the level falling at each step
 * and the node budget, a cyclic or hostile tree ends in a skip, never a hang.
 */
export async function walkTree(ctx: WalkContext, root: TreeRoot, allowed: number, visit: ItemVisitor): Promise<number> {
  const bufs: Buffer[] = []
  let nodes = 0
  let last: BtrfsKey | undefined
  const { sb } = ctx
  const at = (bytenr: number): string => `${root.name} tree block at logical ${bytenr}`

  const descend = async (bytenr: number, level: number, generation: number, first: BtrfsKey | undefined, upper: BtrfsKey | undefined): Promise<void> => {
    need(++nodes <= ctx.maxNodes, `${root.name} tree: more than ${ctx.maxNodes} blocks (a cycle, or more than the metadata chunks hold)`)
    need(bytenr % sb.sectorSize === 0, `${at(bytenr)}: not sector-aligned`)
    const phys = ctx.chunks.map(bytenr, sb.nodeSize, allowed, `${root.name} tree block`)
    const buf = (bufs[level] ??= Buffer.alloc(sb.nodeSize))
    await ctx.vol.read(buf, phys)
    const h = parseTreeHeader(buf, bytenr, sb.metadataFsid, ctx.csum)
    need(h.level === level, () => `${at(bytenr)}: level ${h.level}, its parent expects ${level}`)
    need(h.generation === generation, () => `${at(bytenr)}: generation ${h.generation}, its parent expects ${generation}`)
    need(h.generation <= sb.generation, () => `${at(bytenr)}: generation ${h.generation} newer than the superblock's ${sb.generation}`)
    need(h.owner === root.owner, () => `${at(bytenr)}: owner ${h.owner}, not tree ${root.owner}`)
    const entry = level === 0 ? ITEM_SIZE : KEY_PTR_SIZE
    need(HEADER_SIZE + h.nritems * entry <= sb.nodeSize, () => `${at(bytenr)}: ${h.nritems} items do not fit`)
    need(h.nritems > 0 || (level === 0 && first === undefined && nodes === 1), () => `${at(bytenr)}: empty ${level ? 'node' : 'leaf'}`)
    let prev: BtrfsKey | undefined
    for (let i = 0; i < h.nritems; i++) {
      const key = level === 0 ? parseItem(buf, HEADER_SIZE, i).key : parseKey(buf, HEADER_SIZE + i * KEY_PTR_SIZE)
      if (i === 0 && first) need(compareKeys(key, first) === 0, () => `${at(bytenr)}: first key ${keyString(key)} is not its parent's ${keyString(first)}`)
      need(!prev || compareKeys(prev, key) < 0, () => `${at(bytenr)}: keys out of order at item ${i}`)
      need(!upper || compareKeys(key, upper) < 0, () => `${at(bytenr)}: key ${keyString(key)} beyond its parent's range`)
      prev = key
    }
    if (level === 0) {
      for (let i = 0; i < h.nritems; i++) {
        const item = parseItem(buf, HEADER_SIZE, i)
        need(!last || compareKeys(last, item.key) < 0, () => `${at(bytenr)}: key ${keyString(item.key)} not after the previous leaf's (a cycle?)`)
        last = item.key
        visit(buf, item)
      }
      return
    }
    for (let i = 0; i < h.nritems; i++) {
      const p = HEADER_SIZE + i * KEY_PTR_SIZE
      const key = parseKey(buf, p)
      const next = i + 1 < h.nritems ? parseKey(buf, p + KEY_PTR_SIZE) : upper
      await descend(u64(buf, p + 17), level - 1, u64(buf, p + 25), key, next)
    }
  }

  await descend(root.bytenr, root.level, root.generation, undefined, undefined)
  return nodes
}
