import type { FilesystemReader, TrimOptions, VolumeReader, VolumeVerdict } from '../volume.js'
import { countFreeUnits } from '../allocation-map.js'
import { readAt } from '../layout.js'
import { u64 } from '../bytes/le.js'
import { need, reasonOf, TrimSkip } from '../skip.js'
import { checksumFor, type BtrfsChecksum } from './btrfs-checksum.js'
import { BG, type Chunk, ChunkMap, chunkEnd, chunkItemSize, kindName, parseChunk, profileName, sameChunk } from './btrfs-chunk.js'
import { KEY, keyNumber } from './btrfs-key.js'
import {
  type BtrfsSuper,
  COMPAT_RO,
  RESERVED_START,
  SUPER_MIRRORS,
  SUPER_OFFSET,
  SUPER_SIZE,
  SUPER_STRIPE,
  hasBtrfsMagic,
  parseBtrfsSuper,
  rawLabel,
  superExcluded,
  superExcludedBytes,
} from './btrfs-superblock.js'
import { type TreeRoot, type WalkContext, walkTree } from './btrfs-tree.js'
import { type RootItem, TREE_ID, parseRootItem } from './btrfs-root-item.js'
import { parseDevExtent } from './btrfs-dev-extent.js'
import { parseBlockGroup } from './btrfs-block-group.js'
import { EXTENT_FLAG, parseExtentRecord } from './btrfs-extent-item.js'
import { parseFreeSpace } from './btrfs-free-space.js'
import { SpaceMap } from './btrfs-space-map.js'

/** More chunks than this is not a filesystem we plan in bounded memory (256 TiB of 1 GiB data chunks). */
const MAX_CHUNKS = 1 << 18

/**
 * btrfs on one device, single and DUP profiles. Free: device bytes no dev
 * extent covers (past the first MiB and the superblock copies), and inside
 * DATA block groups the logical bytes no extent item covers (and, where
 * the free-space tree is valid, that it lists free too), on every copy.
 * Metadata, system and mixed block groups stay whole. Every counter is
 * cross-checked; any doubt throws TrimSkip.
 */
export const readBtrfs: FilesystemReader = async (vol, opts) => {
  if (vol.size < SUPER_OFFSET + SUPER_SIZE) return undefined
  const raw = await readAt(vol, SUPER_OFFSET, SUPER_SIZE)
  if (!hasBtrfsMagic(raw)) return undefined
  const label = rawLabel(raw) || undefined
  const details: Record<string, unknown> = {}
  try {
    return { ...(await analyzeBtrfs(vol, raw, opts, details)), kind: 'btrfs', ...(label ? { label } : {}) }
  } catch (e) {
    return { decision: 'skip', kind: 'btrfs', ...(label ? { label } : {}), reason: reasonOf(e), details }
  }
}

type TrimVerdict = Omit<Extract<VolumeVerdict, { decision: 'trim' }>, 'kind'>

async function analyzeBtrfs(vol: VolumeReader, raw: Buffer, opts: TrimOptions, details: Record<string, unknown>): Promise<TrimVerdict> {
  const csum = await checksumFor(raw.readUInt16LE(0xc4))
  const sb = parseBtrfsSuper(raw, vol.size, csum)
  Object.assign(details, {
    uuid: uuidString(sb.fsid),
    generation: sb.generation,
    sectorSize: sb.sectorSize,
    nodeSize: sb.nodeSize,
    checksum: csum.name,
    features: { incompat: '0x' + sb.incompat.toString(16), compatRo: '0x' + sb.compatRo.toString(16) },
  })
  if (sb.logRoot !== 0) {
    throw new TrimSkip(
      opts.journal === 'strict'
        ? 'a log tree awaits replay (data fsynced before the backup); --trim-journal strict skips it'
        : 'a log tree awaits replay: its extents are in no extent tree until the next mount replays it, so even --trim-journal union cannot prove them free',
    )
  }
  const chunks = await readChunkTree(vol, sb, csum)
  const meta = chunks.chunks.reduce((n, c) => n + (c.type & (BG.METADATA | BG.SYSTEM) ? c.length : 0), 0)
  const ctx: WalkContext = { vol, sb, chunks, csum, maxNodes: Math.max(1, Math.floor(meta / sb.nodeSize)) }
  const roots = await readRootTree(ctx)
  const space = new SpaceMap(sb.sectorSize, sb.totalBytes)
  const unallocated = await readDevTree(ctx, roots.get(TREE_ID.DEV)!, space)
  await readBlockGroups(ctx, roots.get(sb.compatRo & COMPAT_RO.BLOCK_GROUP_TREE ? TREE_ID.BLOCK_GROUP : TREE_ID.EXTENT)!)
  await readExtentTree(ctx, roots.get(TREE_ID.EXTENT)!, space)
  const fst = roots.get(TREE_ID.FREE_SPACE)
  const fstValid = (sb.compatRo & COMPAT_RO.FREE_SPACE_TREE) !== 0n && (sb.compatRo & COMPAT_RO.FREE_SPACE_TREE_VALID) !== 0n
  if (fstValid) {
    need(fst, 'the superblock announces a free-space tree the root tree does not have')
    details.freeSpaceTreeOrphans = await readFreeSpaceTree(ctx, fst, space)
  }
  // What no block group may use and no trim may touch: the first MiB and every superblock copy.
  space.set(0, RESERVED_START, true)
  for (const m of SUPER_MIRRORS) if (m < sb.totalBytes) space.set(m, Math.min(m + SUPER_STRIPE, sb.totalBytes - (sb.totalBytes % sb.sectorSize)), true)
  for (const c of chunks.chunks) for (const [a, b] of superExcluded(c)) space.setLogical(c, a, b, true)
  const freeBytes = countFreeUnits(space.map) * sb.sectorSize
  const count = (kind: string): number => chunks.chunks.filter(c => kindName(c.type) === kind).length
  Object.assign(details, {
    freeSource: fstValid ? 'extent tree and free-space tree' : 'extent tree',
    blockGroups: { data: count('data'), metadata: count('metadata'), system: count('system'), mixed: count('mixed') },
    profiles: [...new Set(chunks.chunks.map(c => `${kindName(c.type)} ${profileName(c.type)}`))].sort(),
    unallocatedBytes: unallocated,
  })
  return { decision: 'trim', map: space.map, freeBytes, details }
}

const uuidString = (u: Buffer): string => u.toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-')

/** The chunk tree, read through the superblock's bootstrap chunks: every chunk, and the one device item. */
async function readChunkTree(vol: VolumeReader, sb: BtrfsSuper, csum: BtrfsChecksum): Promise<ChunkMap> {
  const boot = new ChunkMap()
  for (const c of sb.sysChunks) boot.add(c)
  const sys = sb.sysChunks.reduce((n, c) => n + c.length, 0)
  const ctx: WalkContext = { vol, sb, chunks: boot, csum, maxNodes: Math.max(1, Math.floor(sys / sb.nodeSize)) }
  const chunks = new ChunkMap()
  let devItems = 0
  const root: TreeRoot = { name: 'chunk', owner: TREE_ID.CHUNK, bytenr: sb.chunkRoot, level: sb.chunkRootLevel, generation: sb.chunkRootGeneration }
  const o = { sectorSize: sb.sectorSize, devid: sb.dev.devid, deviceBytes: sb.totalBytes }
  await walkTree(ctx, root, BG.SYSTEM, (leaf, item) => {
    if (item.key.type === KEY.DEV_ITEM) {
      devItems++
      need(item.size >= 0x62, 'device item too short')
      const d = item.dataOff
      need(u64(leaf, d) === sb.dev.devid && u64(leaf, d + 8) === sb.dev.totalBytes && u64(leaf, d + 0x10) === sb.dev.bytesUsed, "the chunk tree's device item differs from the superblock's")
    } else if (item.key.type === KEY.CHUNK_ITEM) {
      need(item.key.objectid === 256n, 'chunk item with an unexpected objectid')
      need(item.size >= 0x30 && item.size === chunkItemSize(leaf, item.dataOff), `chunk item at ${item.key.offset}: size does not match its stripes`)
      need(chunks.chunks.length < MAX_CHUNKS, `more than ${MAX_CHUNKS} chunks`)
      chunks.add(parseChunk(leaf, item.dataOff, keyNumber(item.key.offset, 'chunk start'), o))
    }
  })
  need(devItems === 1, `${devItems} device items in the chunk tree of a single-device filesystem`)
  for (const s of sb.sysChunks) {
    const c = chunks.find(s.logical)
    need(c && sameChunk(c, s), `the superblock's system chunk at ${s.logical} differs from the chunk tree's`)
  }
  return chunks
}

/** Root items of the trees the trim reads. */
async function readRootTree(ctx: WalkContext): Promise<Map<bigint, TreeRoot>> {
  const { sb } = ctx
  const want = new Map<bigint, string>([
    [TREE_ID.EXTENT, 'extent'],
    [TREE_ID.DEV, 'dev'],
    [TREE_ID.FREE_SPACE, 'free-space'],
    [TREE_ID.BLOCK_GROUP, 'block group'],
  ])
  const items = new Map<bigint, RootItem>()
  const root: TreeRoot = { name: 'root', owner: TREE_ID.ROOT, bytenr: sb.root, level: sb.rootLevel, generation: sb.generation }
  await walkTree(ctx, root, BG.METADATA, (leaf, item) => {
    if (item.key.type === KEY.ROOT_ITEM && item.key.offset === 0n && want.has(item.key.objectid)) items.set(item.key.objectid, parseRootItem(leaf, item))
  })
  const out = new Map<bigint, TreeRoot>()
  for (const [id, name] of want) {
    const r = items.get(id)
    if (!r) continue
    need(r.level < 8 && r.generation <= sb.generation, `root item of the ${name} tree: level ${r.level}, generation ${r.generation}`)
    out.set(id, { name, owner: id, ...r })
  }
  need(out.has(TREE_ID.EXTENT) && out.has(TREE_ID.DEV), 'the root tree lacks the extent or the dev tree')
  need(!(sb.compatRo & COMPAT_RO.BLOCK_GROUP_TREE) || out.has(TREE_ID.BLOCK_GROUP), 'the block group tree is announced but missing')
  return out
}

/**
 * The dev tree: every dev extent must be exactly one copy of one chunk, and
 * every copy of every chunk must have its dev extent. The gaps between them
 * are unallocated device space, free. Returns the unallocated bytes.
 */
async function readDevTree(ctx: WalkContext, root: TreeRoot, space: SpaceMap): Promise<number> {
  const { sb, chunks } = ctx
  const seen = new Map<Chunk, number>()
  let prevEnd = 0
  let allocated = 0
  let unallocated = 0
  await walkTree(ctx, root, BG.METADATA, (leaf, item) => {
    if (item.key.type === KEY.DEV_REPLACE) {
      need(item.size >= 0x28, 'dev replace item too short')
      const state = u64(leaf, item.dataOff + 0x20)
      need(state === 0 || state === 2 || state === 3, `a device replace is in progress (state ${state})`)
      return
    }
    if (item.key.type !== KEY.DEV_EXTENT) return
    const de = parseDevExtent(leaf, item)
    need(de.devid === sb.dev.devid, `dev extent on device ${de.devid}, not this filesystem's only device`)
    need(de.offset >= prevEnd, `dev extent at device byte ${de.offset} overlaps the previous one`)
    need(de.offset + de.length <= sb.totalBytes, `dev extent at device byte ${de.offset} runs past the device`)
    const c = chunks.find(de.chunk)
    need(c && c.logical === de.chunk && c.length === de.length, `dev extent at device byte ${de.offset} names no chunk of its length at logical ${de.chunk}`)
    const i = c.stripes.findIndex(s => s.offset === de.offset)
    need(i >= 0, `dev extent at device byte ${de.offset} is no copy of the chunk at logical ${de.chunk}`)
    const mask = seen.get(c) ?? 0
    need(!(mask & (1 << i)), `chunk at logical ${de.chunk}: copy ${i} has two dev extents`)
    seen.set(c, mask | (1 << i))
    if (de.offset > prevEnd) {
      space.set(prevEnd, de.offset, false)
      unallocated += de.offset - prevEnd
    }
    prevEnd = de.offset + de.length
    allocated += de.length
  })
  const end = sb.totalBytes - (sb.totalBytes % sb.sectorSize)
  if (end > prevEnd) {
    space.set(prevEnd, end, false)
    unallocated += end - prevEnd
  }
  for (const c of chunks.chunks) need(seen.get(c) === (1 << c.stripes.length) - 1, `chunk at logical ${c.logical} lacks a dev extent`)
  need(allocated === sb.dev.bytesUsed, `dev extents total ${allocated} bytes, the device item says ${sb.dev.bytesUsed}`)
  return unallocated
}

/** Block group items: one per chunk, same start, length and type; records each `used` counter. */
async function readBlockGroups(ctx: WalkContext, root: TreeRoot): Promise<void> {
  const { chunks } = ctx
  let total = 0
  await walkTree(ctx, root, BG.METADATA, (leaf, item) => {
    if (item.key.type !== KEY.BLOCK_GROUP_ITEM) return
    const g = parseBlockGroup(leaf, item)
    const c = chunks.find(g.start)
    need(c && c.logical === g.start && c.length === g.length && c.type === g.flags, `block group at ${g.start} matches no chunk`)
    need(c.used === undefined, `two block group items at ${g.start}`)
    need(g.used <= g.length, `block group at ${g.start}: used ${g.used} exceeds its length`)
    c.used = g.used
    total += g.used
  })
  for (const c of chunks.chunks) need(c.used !== undefined, `chunk at logical ${c.logical} has no block group item`)
  need(total === ctx.sb.bytesUsed, `block groups use ${total} bytes, the superblock says ${ctx.sb.bytesUsed}`)
}

/**
 * The extent tree, in key (= logical address) order: every extent item must
 * lie inside one block group of its kind, none may overlap, and the bytes
 * they cover must equal each block group's `used`. In pure DATA block
 * groups the gaps between extents are cleared (free) on every copy.
 */
async function readExtentTree(ctx: WalkContext, root: TreeRoot, space: SpaceMap): Promise<void> {
  const { chunks, sb } = ctx
  const list = chunks.chunks
  for (const c of list) c.covered = 0
  const isData = (c: Chunk): boolean => (c.type & (BG.DATA | BG.METADATA)) === BG.DATA
  let cur = -1 // the block group of the last extent item
  let cursor = 0 // inside it, logical bytes below are settled
  /** Frees the rest of the current block group and every untouched one before block group k. */
  const moveTo = (k: number): void => {
    if (cur >= 0 && isData(list[cur]!) && cursor < chunkEnd(list[cur]!)) space.setLogical(list[cur]!, cursor, chunkEnd(list[cur]!), false)
    for (let j = cur + 1; j < k; j++) if (isData(list[j]!)) space.setLogical(list[j]!, list[j]!.logical, chunkEnd(list[j]!), false)
    cur = k
    cursor = list[k]?.logical ?? 0
  }
  let prevEnd = 0
  await walkTree(ctx, root, BG.METADATA, (leaf, item) => {
    const r = parseExtentRecord(leaf, item, sb.nodeSize)
    if (!r) return
    need(r.start >= prevEnd, `extent at logical ${r.start} overlaps the previous extent`)
    need(r.start % sb.sectorSize === 0 && r.length % sb.sectorSize === 0, `extent at logical ${r.start} not sector-aligned`)
    prevEnd = r.start + r.length
    const c = chunks.find(r.start)
    need(c && prevEnd <= chunkEnd(c), `extent at logical ${r.start} (+${r.length}) is not inside one block group`)
    const kindOk = r.flags & EXTENT_FLAG.DATA ? c.type & BG.DATA : c.type & (BG.METADATA | BG.SYSTEM)
    need(kindOk, `${r.flags & EXTENT_FLAG.DATA ? 'data' : 'tree block'} extent at logical ${r.start} lies in a ${kindName(c.type)} block group`)
    c.covered! += r.length
    if (c !== list[cur]) {
      const k = list.indexOf(c, cur + 1)
      need(k > cur, `extent at logical ${r.start} out of order`)
      moveTo(k)
    }
    if (isData(c)) {
      if (r.start > cursor) space.setLogical(c, cursor, r.start, false)
      cursor = prevEnd
    }
  })
  moveTo(list.length)
  for (const c of list) {
    need(c.covered === c.used, `${kindName(c.type)} block group at ${c.logical}: extent items cover ${c.covered} bytes, its used counter says ${c.used}`)
  }
}

/**
 * The free-space tree, block group by block group: each must have its info
 * item and exactly as many free extents as it says; free + used + the
 * superblock copies' bytes must make up the block group; and in DATA block
 * groups every range it lists free must already be free by the extent tree
 * (else skip), while what it does not list is marked used again.
 */
async function readFreeSpaceTree(ctx: WalkContext, root: TreeRoot, space: SpaceMap): Promise<number> {
  let orphans = 0
  const { chunks, sb } = ctx
  let bg: Chunk | undefined
  let bitmaps = false
  let want = 0
  let runs = 0
  let free = 0
  let cursor = 0
  let runEnd = -1
  let infos = 0
  let orphan: [number, number] | undefined
  let excluded: [number, number][] = []
  const data = (c: Chunk): boolean => (c.type & (BG.DATA | BG.METADATA)) === BG.DATA
  const freeRange = (c: Chunk, a: number, b: number): void => {
    need(a >= cursor && b <= chunkEnd(c), `free-space tree: free range ${a}..${b} outside or out of order in the block group at ${c.logical}`)
    if (a !== runEnd) runs++
    runEnd = b
    // The kernel's own tree may or may not list the superblock copies' stripes as free
    // (it subtracts them again when it loads the tree): count only what lies outside them.
    free += b - a - excluded.reduce((n, [x, y]) => n + Math.max(0, Math.min(b, y) - Math.max(a, x)), 0)
    if (!data(c)) return
    if (a > cursor) space.setLogical(c, cursor, a, true)
    need(space.allFreeLogical(c, a, b), `free-space tree lists logical ${a}..${b} free, but an extent item or a superblock copy uses part of it`)
    cursor = b
  }
  const close = (): void => {
    if (!bg) return
    need(runs === want, `free-space tree: block group at ${bg.logical} has ${runs} free extents, its info item says ${want}`)
    const expect = bg.length - bg.used! - superExcludedBytes(excluded)
    need(free === expect, `free-space tree: block group at ${bg.logical} lists ${free} free bytes, its used counter leaves ${expect}`)
    if (data(bg) && cursor < chunkEnd(bg)) space.setLogical(bg, cursor, chunkEnd(bg), true)
    bg = undefined
  }
  await walkTree(ctx, root, BG.METADATA, (leaf, item) => {
    const r = parseFreeSpace(leaf, item, sb.sectorSize)
    if (!r) return
    if (r.kind === 'info') {
      close()
      orphan = undefined
      if (!chunks.overlaps(r.start, r.start + r.length)) {
        // Left behind for a block group that no longer exists (mkfs.btrfs 6.2 leaves its
        // temporary ones): it maps to no device byte, so it can neither free nor protect any.
        orphan = [r.start, r.start + r.length]
        orphans++
        return
      }
      const c = chunks.find(r.start)
      need(c && c.logical === r.start && c.length === r.length, `free-space info at ${r.start} matches no block group`)
      bg = c
      bitmaps = r.bitmaps
      want = r.extentCount
      runs = free = 0
      cursor = c.logical
      runEnd = -1
      excluded = superExcluded(c)
      infos++
      return
    }
    if (orphan && r.start >= orphan[0] && r.start + r.length <= orphan[1]) return
    need(bg && r.start >= bg.logical && r.start + r.length <= chunkEnd(bg), `free-space ${r.kind} at ${r.start} outside the block group of its info item`)
    need(bitmaps === (r.kind === 'bitmap'), `free-space ${r.kind} at ${r.start} in a block group whose info item says ${bitmaps ? 'bitmaps' : 'extents'}`)
    if (r.kind === 'extent') return freeRange(bg, r.start, r.start + r.length)
    const n = r.length / sb.sectorSize
    let runStart = -1
    for (let i = 0; i <= n; i++) {
      const set = i < n && ((r.bits[i >>> 3]! >> (i & 7)) & 1) === 1
      if (set && runStart < 0) runStart = i
      else if (!set && runStart >= 0) {
        freeRange(bg, r.start + runStart * sb.sectorSize, r.start + i * sb.sectorSize)
        runStart = -1
      }
      if (!set && (i & 7) === 0 && i + 8 <= n && r.bits[i >>> 3] === 0) i += 7
    }
  })
  close()
  need(infos === chunks.chunks.length, `free-space tree: ${infos} info items for ${chunks.chunks.length} block groups`)
  return orphans
}
