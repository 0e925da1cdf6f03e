import { TrimSkip, need } from '../skip.js'
import { be32 } from '../bytes/le.js'
import { crc32cRaw } from '../bytes/crc32c.js'
import type { VolumeReader } from '../volume.js'
import type { XfsSuper } from './xfs-superblock.js'

// The internal log: a ring of 512-byte basic blocks (BB). Every BB starts with
// the cycle number it was written in (a record header block starts with the
// magic and has the cycle at +4); the words the stamps replaced are kept in the
// header's h_cycle_data. Record header (big-endian):
//   0x00 h_magicno 0xFEEDBABE   0x04 h_cycle   0x08 h_version (1, 2)   0x0C h_len (data bytes)
//   0x10 h_lsn (cycle << 32 | BB)   0x18 h_tail_lsn   0x20 h_crc (little-endian)   0x24 h_prev_block
//   0x28 h_num_logops   0x2C h_cycle_data[64]   0x12C h_fmt   0x130 h_fs_uuid[16]   0x140 h_size
// A v2 record larger than 32 KiB has one extension header BB per further 32 KiB
// (0x00 xh_cycle, 0x04 xh_cycle_data[64]). The data is a sequence of operations:
// op header (0x00 oh_tid, 0x04 oh_len, 0x08 oh_clientid, 0x09 oh_flags), then oh_len bytes.
// Log item formats inside are in the writer's byte order (little-endian on x86 and arm64).

const MAGIC = 0xfeedbabe
const CYCLE_BYTES = 32768
/** 8 in-core logs of at most 256 KiB may be in flight: torn writes stay within this many BBs of the head. */
const WINDOW = 4096
/** Largest record: 256 KiB of data and 8 header BBs. */
const MAX_RECORD_BBS = 512 + 8
const OP = { START: 0x01, COMMIT: 0x02, CONTINUE: 0x04, WAS_CONT: 0x08, UNMOUNT: 0x20 }
const CLIENT = { TRANSACTION: 0x69, LOG: 0xaa }
const TRANS_MAGIC = 0x5452414e // 'TRAN'
const LI_BUF = 0x123c
const LI_NAMES: Record<number, string> = {
  4662: 'extent-free intent',
  4663: 'extent-free done',
  4667: 'inode',
  4668: 'buffer',
  4669: 'quota',
  4671: 'inode create',
  4672: 'rmap intent',
  4674: 'refcount intent',
  4676: 'bmap intent',
  4678: 'xattr intent',
}

export interface LogState {
  /** clean: an unmount record at the head; covered: only superblock updates to replay (a frozen filesystem). */
  state: 'clean' | 'covered'
  head: number
  tail: number
  cycle: number
  /** Human summary for the report. */
  summary: string
}

interface LogRecord {
  /** Index of its header BB in the window. */
  at: number
  bbs: number
  cycle: number
  block: number
  tailCycle: number
  tailBlock: number
  numOps: number
  len: number
  hblks: number
}

/**
 * Finds the head and tail of the internal log as xlog_find_tail does, and says
 * whether the on-disk metadata is current: clean (the last record is an
 * unmount record ending at the head) or covered (every transaction between
 * tail and head logs only the primary superblock, what a freeze leaves).
 * Anything else (transactions to replay, torn writes, a damaged record) throws
 * TrimSkip: XFS logs partial buffers and deferred intents, so the free space
 * after a replay cannot be derived from the on-disk trees (no union mode).
 */
export async function checkLog(vol: VolumeReader, sb: XfsSuper): Promise<LogState> {
  const n = (sb.logBlocks * sb.blockSize) / 512
  const base = sb.logBlock * sb.blockSize
  const bb = Buffer.alloc(512)
  const cycleAt = async (p: number): Promise<number> => {
    await vol.read(bb, base + p * 512)
    return cycleOf(bb, 0)
  }
  const c0 = await cycleAt(0)
  const cl = await cycleAt(n - 1)
  need(c0 !== 0, 'XFS log: never written (cycle 0 at its start)')
  let head = n
  if (c0 !== cl) {
    need(c0 === cl + 1, `XFS log: cycle numbers ${c0} at the start and ${cl} at the end do not make a ring`)
    let lo = 0
    let hi = n - 1
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2)
      const c = await cycleAt(mid)
      if (c === c0) lo = mid
      else if (c === cl) hi = mid
      else throw new TrimSkip(`XFS log: cycle ${c} at block ${mid} between ${c0} and ${cl}`)
    }
    head = hi
  }
  const w = Math.min(n, WINDOW)
  // The window: the w BBs before the head, in log order (wrapping to the end of the ring).
  const win = Buffer.alloc(w * 512)
  const startPos = head - w
  if (startPos >= 0) await vol.read(win, base + startPos * 512)
  else {
    await vol.read(win.subarray(0, -startPos * 512), base + (n + startPos) * 512)
    await vol.read(win.subarray(-startPos * 512), base)
  }
  const posOf = (k: number): number => (startPos + k + n) % n
  const cycleWant = (k: number): number => (startPos + k >= 0 ? c0 : c0 - 1)
  for (let k = 0; k < w; k++) {
    const c = cycleOf(win, k * 512)
    need(c === cycleWant(k), `XFS log: block ${posOf(k)} has cycle ${c}, expected ${cycleWant(k)} (writes in flight or torn: needs recovery)`)
  }
  if (head < n) {
    const after = Buffer.alloc(Math.min(w, n - head) * 512)
    await vol.read(after, base + head * 512)
    for (let k = 0; k * 512 < after.length; k++) {
      need(cycleOf(after, k * 512) === cl, `XFS log: block ${head + k} past the head has cycle ${cycleOf(after, k * 512)} (writes in flight: needs recovery)`)
    }
  }
  let last = -1
  for (let k = w - 1; k >= Math.max(0, w - MAX_RECORD_BBS); k--) {
    if (win.readUInt32BE(k * 512) === MAGIC) {
      last = k
      break
    }
  }
  need(last >= 0, 'XFS log: no record header before the head')
  const rec = parseRecord(sb, win, last, posOf(last), cycleWant(last))
  need(last + rec.bbs === w, `XFS log: the last record at block ${posOf(last)} does not end at the head ${head % n}`)
  const data = unpack(win, rec)
  if (rec.numOps === 1 && data.length >= 12 && (data[9]! & OP.UNMOUNT) !== 0) {
    return { state: 'clean', head: head % n, tail: head % n, cycle: c0, summary: `clean (unmount record at block ${rec.block}: head ${c0}/${head % n}, tail ${c0}/${head % n})` }
  }
  // Not unmounted: only a covered log (superblock updates only) is accepted.
  const tail = rec.tailBlock
  let dist: number
  if (rec.tailCycle === c0 && tail <= head) dist = head - tail
  else if (rec.tailCycle === c0 - 1 && tail >= head % n && tail < n) dist = head + n - tail
  else throw new TrimSkip(`XFS log: tail ${rec.tailCycle}/${tail} does not lie behind the head ${c0}/${head % n}`)
  const desc = `head ${c0}/${head % n}, tail ${rec.tailCycle}/${tail}`
  need(dist > 0, `XFS log: no unmount record at the head and nothing between tail and head (${desc})`)
  need(dist <= w, `XFS log needs recovery: ${dist} blocks of transactions between tail and head (${desc})`)
  const tids = new Map<number, number>()
  for (let k = w - dist; k < w; ) {
    need(win.readUInt32BE(k * 512) === MAGIC, `XFS log needs recovery: no record header at block ${posOf(k)} (${desc})`)
    const r = parseRecord(sb, win, k, posOf(k), cycleWant(k))
    need(k + r.bbs <= w, `XFS log: record at block ${r.block} runs past the head`)
    const bad = onlySuperblock(sb, unpack(win, r), r.numOps, tids)
    need(!bad, () => `XFS log needs recovery: it holds ${bad} (${desc}); a frozen filesystem's log holds only superblock updates`)
    k += r.bbs
  }
  return { state: 'covered', head: head % n, tail, cycle: c0, summary: `covered (only superblock updates between tail and head: ${desc})` }
}

function cycleOf(b: Buffer, off: number): number {
  const w0 = b.readUInt32BE(off)
  return w0 === MAGIC ? b.readUInt32BE(off + 4) : w0
}

/** Checks one record header at window BB `k` (magic, version, cycle, LSN, size, UUID, CRC). */
function parseRecord(sb: XfsSuper, win: Buffer, k: number, block: number, cycle: number): LogRecord {
  const h = win.subarray(k * 512, k * 512 + 512)
  const where = `XFS log record at block ${block}`
  const version = be32(h, 0x08)
  need(version === 1 || version === 2, `${where}: version ${version}`)
  need(be32(h, 0x04) === cycle, `${where}: cycle ${be32(h, 0x04)}, expected ${cycle}`)
  need(be32(h, 0x10) === cycle && be32(h, 0x14) === block, `${where}: its LSN names another place`)
  const len = be32(h, 0x0c)
  const size = be32(h, 0x140)
  need(len > 0 && len <= 256 * 1024, `${where}: length ${len}`)
  const hblks = version === 2 && size > CYCLE_BYTES ? Math.ceil(size / CYCLE_BYTES) : 1
  need(hblks <= 8, `${where}: ${hblks} header blocks`)
  need(len <= hblks * CYCLE_BYTES, `${where}: length ${len} larger than its headers describe`)
  need(h.subarray(0x130, 0x140).equals(sb.uuid), `${where}: belongs to another filesystem (UUID)`)
  const bbs = hblks + Math.ceil(len / 512)
  need((k + bbs) * 512 <= win.length, `${where}: runs past the head`)
  const r: LogRecord = {
    at: k,
    bbs,
    cycle,
    block,
    len,
    hblks,
    tailCycle: be32(h, 0x18),
    tailBlock: be32(h, 0x1c),
    numOps: be32(h, 0x28),
  }
  // mkfs writes its unmount record with h_crc 0; the kernel takes 0 as "no checksum" even on v5
  const stored = h.readUInt32LE(0x20)
  if (stored !== 0) need(recordCrc(win, r, 0x148) === stored || recordCrc(win, r, 0x144) === stored, `${where}: CRC mismatch`)
  return r
}

/** xlog_cksum: the header (x86-64 or i386 size), the extension headers' cycle data, then the packed data. */
function recordCrc(win: Buffer, r: LogRecord, headerSize: number): number {
  const h = r.at * 512
  let c = crc32cRaw(0xffffffff, win, h, h + 0x20)
  c = crc32cRaw(c, new Uint8Array(4))
  c = crc32cRaw(c, win, h + 0x24, h + headerSize)
  const xheads = Math.ceil(r.len / CYCLE_BYTES)
  for (let i = 1; i < xheads; i++) c = crc32cRaw(c, win, h + i * 512, h + i * 512 + 4 + 256)
  const d = (r.at + r.hblks) * 512
  c = crc32cRaw(c, win, d, d + r.len)
  return ~c >>> 0
}

/** The record's data with the first word of each BB restored from the cycle data. */
function unpack(win: Buffer, r: LogRecord): Buffer {
  const d = (r.at + r.hblks) * 512
  const data = Buffer.from(win.subarray(d, d + r.len))
  for (let j = 0; j * 512 < r.len; j++) {
    const hdr = (r.at + Math.floor(j / 64)) * 512
    const word = win.readUInt32BE(hdr + (j < 64 ? 0x2c : 4) + 4 * (j % 64))
    if (j * 512 + 4 <= data.length) data.writeUInt32BE(word, j * 512)
  }
  return data
}

/**
 * Undefined when every operation of the record belongs to a transaction that
 * logs only the primary superblock buffer (daddr 0), else what it holds.
 * `tids` carries, per transaction, the data regions still due to the buffer
 * item whose format region came last.
 */
function onlySuperblock(sb: XfsSuper, data: Buffer, numOps: number, tids: Map<number, number>): string | undefined {
  let pos = 0
  for (let i = 0; i < numOps; i++) {
    if (pos + 12 > data.length) return 'a truncated operation'
    const tid = data.readUInt32BE(pos)
    const len = data.readUInt32BE(pos + 4)
    const client = data[pos + 8]!
    const flags = data[pos + 9]!
    pos += 12
    if (pos + len > data.length) return 'an operation longer than its record'
    const region = data.subarray(pos, pos + len)
    pos += len
    if (client === CLIENT.LOG && flags & OP.UNMOUNT) continue
    if (client !== CLIENT.TRANSACTION) return `an operation of client 0x${client.toString(16)}`
    if (flags & (OP.CONTINUE | OP.WAS_CONT)) return 'a transaction split across records'
    if (len === 0) continue // start or commit marker
    const due = tids.get(tid) ?? 0
    if (due > 0) {
      tids.set(tid, due - 1)
      continue
    }
    if (len >= 16 && region.readUInt32LE(0) === TRANS_MAGIC) continue
    if (len < 2) return 'an unknown log item'
    const type = region.readUInt16LE(0)
    if (type !== LI_BUF) return `a log item of type ${LI_NAMES[type] ?? '0x' + type.toString(16)}`
    if (len < 16) return 'a short buffer log item'
    const regions = region.readUInt16LE(2)
    const bbs = region.readUInt16LE(6)
    const blkno = region.readBigInt64LE(8)
    if (blkno !== 0n || bbs * 512 > sb.sectSize) return `a logged buffer at daddr ${blkno} (${bbs} blocks)`
    if (regions < 1) return 'a buffer log item without regions'
    tids.set(tid, regions - 1)
  }
  return undefined
}
