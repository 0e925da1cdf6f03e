import type { VolumeReader } from '../volume.js'
import { type ExtSuper, COMPAT, INCOMPAT } from './ext4-superblock.js'
import { readInode, inodeBlockRuns, physicalOf } from './ext4-inode.js'
import { readAt } from '../layout.js'
import { TrimSkip, need } from '../skip.js'
import { be32, be16 } from '../bytes/le.js'

// jbd2 journal (big-endian). Superblock = journal block 0:
//   0x00 magic 0xC03B3998   0x04 block type (3 v1, 4 v2)   0x0C s_blocksize   0x10 s_maxlen
//   0x14 s_first   0x18 s_sequence   0x1C s_start (0 = empty)   0x20 s_errno
//   0x28 s_feature_incompat (0x2 64BIT, 0x8 CSUM_V2, 0x10 CSUM_V3, 0x20 FAST_COMMIT)   0x54 s_num_fc_blks
// Log block header: magic, type (1 descriptor, 2 commit, 5 revoke), sequence.
// Descriptor tags from byte 12; tag = (block lo, flags, block hi, csum) with CSUM_V3 (16 bytes), otherwise
// block lo u32, checksum u16, flags u16 at +6, block hi u32 (64BIT only); +16 UUID unless flag SAME_UUID (2);
// flag ESCAPE (1): the copy's first 4 bytes were the magic; flag LAST_TAG (8).

const JBD2_MAGIC = 0xc03b3998
const J_INCOMPAT = { BIT64: 0x2, CSUM_V2: 0x8, CSUM_V3: 0x10, FAST_COMMIT: 0x20 }
/** Journaled descriptor-block versions kept for union mode before giving up. */
const MAX_GDT_VERSIONS = 4096

export interface JournalState {
  kind: 'none' | 'external' | 'internal'
  recover: boolean
  start: number
  committed: number
  /** Human summary for the report. */
  state: string
  /** union mode: per bitmap block, the OR of every journaled copy. */
  bitmapCopies: Map<number, Buffer>
  /** union mode: every journaled version of descriptor blocks. */
  gdtCopies: Map<number, Buffer[]>
}

export interface JournalInterest {
  isBitmap(block: number): boolean
  isGdt(block: number): boolean
}

/**
 * Decides whether the journal lets us trust the on-disk bitmaps (strict), or
 * collects every journaled copy of bitmap and descriptor blocks (union).
 * Throws TrimSkip when the volume must be skipped under the chosen mode.
 */
export async function readJournal(vol: VolumeReader, sb: ExtSuper, mode: 'strict' | 'union', interest: JournalInterest): Promise<JournalState> {
  const recover = (sb.incompat & INCOMPAT.RECOVER) !== 0
  const st: JournalState = { kind: 'none', recover, start: 0, committed: 0, state: 'no journal', bitmapCopies: new Map(), gdtCopies: new Map() }
  if (!(sb.compat & COMPAT.HAS_JOURNAL)) {
    need(!recover, 'needs_recovery set without a journal')
    return st
  }
  if (sb.journalInum === 0 || sb.journalDev !== 0) {
    st.kind = 'external'
    need(!recover, 'external journal and needs_recovery: the journal is not in this archive')
    st.state = 'external journal, clean'
    return st
  }
  st.kind = 'internal'
  const runs = await inodeBlockRuns(vol, sb, await readInode(vol, sb, sb.journalInum))
  const jread = async (lb: number): Promise<Buffer> => {
    const p = physicalOf(runs, lb)
    if (p === undefined) throw new TrimSkip(`journal block ${lb} unmapped`)
    return readAt(vol, p * sb.blockSize, sb.blockSize)
  }
  const js = await jread(0)
  need(be32(js, 0) === JBD2_MAGIC && (be32(js, 4) === 3 || be32(js, 4) === 4), 'journal superblock invalid')
  need(be32(js, 0x0c) === sb.blockSize, 'journal block size differs from the filesystem block size')
  const maxlen = be32(js, 0x10)
  const first = be32(js, 0x14)
  const sequence = be32(js, 0x18)
  st.start = be32(js, 0x1c)
  need(be32(js, 0x20) === 0, `journal records error ${be32(js, 0x20) | 0} (s_errno)`)
  const jinc = be32(js, 4) === 4 ? be32(js, 0x28) : 0
  const fastCommit = (sb.compat & COMPAT.FAST_COMMIT) !== 0 || (jinc & J_INCOMPAT.FAST_COMMIT) !== 0
  if (!recover) {
    need(st.start === 0, `needs_recovery clear but the journal is not empty (s_start ${st.start}): e2fsck may replay it`)
    st.state = 'clean (needs_recovery clear, journal empty)'
    return st
  }
  if (st.start === 0) {
    st.state = 'needs_recovery set, journal empty (s_start 0): nothing to replay'
    return st
  }
  const fcBlocks = jinc & J_INCOMPAT.FAST_COMMIT ? be32(js, 0x54) || 256 : 0
  const last = maxlen - fcBlocks
  need(first >= 1 && first < last && st.start >= first && st.start < last, 'journal geometry invalid')
  await walkLog(jread, { sb, jinc, sequence, start: st.start, first, last, mode, interest, st })
  if (st.committed === 0) {
    need(!fastCommit, 'needs_recovery with fast_commit: fast-commit replay may allocate blocks')
    st.state = 'needs_recovery set, no committed transaction at s_start: nothing to replay'
    return st
  }
  need(!fastCommit, 'needs_recovery with fast_commit: fast-commit replay allocates blocks the bitmaps do not show')
  if (mode === 'strict') {
    throw new TrimSkip(
      `needs_recovery set and the journal holds ${st.committed} committed transaction(s): on-disk bitmaps are stale ` +
        '(strict rule; --trim-journal union trims it safely, or freeze the guest with the QEMU guest agent)',
    )
  }
  st.state = `needs_recovery set, ${st.committed} committed transaction(s): union of on-disk and journaled bitmaps`
  return st
}

interface WalkCtx {
  sb: ExtSuper
  jinc: number
  sequence: number
  start: number
  first: number
  last: number
  mode: 'strict' | 'union'
  interest: JournalInterest
  st: JournalState
}

/** The recovery walk: from s_start while blocks carry the magic and the expected sequence. */
async function walkLog(jread: (lb: number) => Promise<Buffer>, c: WalkCtx): Promise<void> {
  const csum3 = (c.jinc & J_INCOMPAT.CSUM_V3) !== 0
  const csum2 = (c.jinc & J_INCOMPAT.CSUM_V2) !== 0
  const is64 = (c.jinc & J_INCOMPAT.BIT64) !== 0
  const tagBytes = csum3 ? 16 : 12 + (csum2 ? 2 : 0) - (is64 ? 0 : 4)
  const tail = csum2 || csum3 ? 4 : 0
  const bs = c.sb.blockSize
  const wrap = (b: number): number => (b >= c.last ? b - (c.last - c.first) : b)
  let blk = c.start
  let seq = c.sequence
  let steps = 0
  while (steps++ < c.last + 2) {
    const b = await jread(blk)
    blk = wrap(blk + 1)
    if (be32(b, 0) !== JBD2_MAGIC || be32(b, 8) !== seq) return
    const type = be32(b, 4)
    if (type === 2) {
      c.st.committed++
      seq = (seq + 1) >>> 0
      continue
    }
    if (type === 5) continue
    if (type !== 1) return
    for (let off = 12; off + tagBytes <= bs - tail; ) {
      const lo = be32(b, off)
      const flags = csum3 ? be32(b, off + 4) : be16(b, off + 6)
      const hi = is64 ? be32(b, off + 8) : 0
      const fsblk = hi * 2 ** 32 + lo
      const copyAt = blk
      blk = wrap(blk + 1)
      steps++
      if (c.mode === 'union') await keepCopy(c, fsblk, () => jread(copyAt), (flags & 1) !== 0)
      off += tagBytes + (flags & 2 ? 0 : 16)
      if (flags & 8) break
    }
  }
}

async function keepCopy(c: WalkCtx, fsblk: number, load: () => Promise<Buffer>, escaped: boolean): Promise<void> {
  const bitmap = c.interest.isBitmap(fsblk)
  const gdt = c.interest.isGdt(fsblk)
  if (!bitmap && !gdt) return
  const data = await load()
  if (escaped) data.writeUInt32BE(JBD2_MAGIC, 0)
  if (bitmap) {
    const acc = c.st.bitmapCopies.get(fsblk)
    if (!acc) c.st.bitmapCopies.set(fsblk, Buffer.from(data))
    else for (let i = 0; i < acc.length; i++) acc[i]! |= data[i]!
  }
  if (gdt) {
    const list = c.st.gdtCopies.get(fsblk) ?? []
    need(list.length < MAX_GDT_VERSIONS, 'too many journaled descriptor-block versions')
    list.push(data)
    c.st.gdtCopies.set(fsblk, list)
  }
}
