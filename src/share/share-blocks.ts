// Block sharing (spec/sharing.md): makes a file share with other files on the
// same filesystem every 4 KiB block whose bytes are equal. Candidates come
// from content hashes of the blocks at 4 KiB-aligned offsets (never from
// positions alone); the kernel compares each candidate range before sharing
// it (FIDEDUPERANGE, through xfs_io), so what the file holds never changes.
// Used by optimize --share-with (after writing, before the read-back proof)
// and by `vma-opt share`.

import { open, stat, statfs, writeFile } from 'node:fs/promises'
import { openSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { spawnGuarded } from '../util/spawn-guarded.js'
import { findTool } from '../util/find-tool.js'
import { removeFile, trackFile } from '../util/temp-files.js'
import { fromSystemError } from '../util/errors.js'
import { BlockHasher } from './block-hash.js'
import { BlockTable } from './block-table.js'
import { scanBlocks } from './block-scan.js'
import { DedupeTool } from './dedupe-tool.js'

export interface ShareResult {
  /** Bytes of the file now shared with the others (what sharing saved). */
  shared: number
  /** Candidate ranges the kernel found different. */
  differ: number
  /** Why nothing could be shared (one line), when so. */
  why?: string
}

/** Filesystems that share blocks between files by FIDEDUPERANGE (statfs f_type). */
const SHARING: Record<number, string> = { 1481003842: 'XFS', 2435016766: 'btrfs' }
/** Names of others, for the message that says why nothing is shared. */
const OTHERS: Record<number, string> = {
  61267: 'ext2/3/4',
  16914836: 'tmpfs',
  801189825: 'ZFS',
  26985: 'NFS',
  2035054128: 'overlayfs',
  19780: 'FAT',
  1397118030: 'NTFS',
  1702057286: 'FUSE',
  4076150800: 'F2FS',
}

const BTRFS = 0x9123683e

const fsName = (type: number) => SHARING[type] ?? OTHERS[type] ?? `filesystem type 0x${type.toString(16)}`

/** A range longer than this is split: btrfs shares at most 16 MiB per call. */
const MAX_RANGE = 16 << 20
const BLOCK = 4096

/**
 * Why `dir` (where the file to share goes) cannot share blocks with `others`,
 * or undefined when it can: same filesystem, one that shares, xfs_io found.
 */
export async function whyCannotShare(dir: string, others: string[]): Promise<string | undefined> {
  const fs = await statfs(dir).catch(e => {
    throw fromSystemError(e, `cannot read ${dir}`)
  })
  if (!SHARING[fs.type]) {
    const zfs = fs.type === 0x2fc12fc1 ? ' (ZFS clones but does not compare-and-share; see spec/sharing.md)' : ''
    return `${fsName(fs.type)} cannot share blocks between files${zfs}: nothing shared`
  }
  const dev = (await stat(dir)).dev
  for (const o of others) {
    const s = await stat(o).catch(e => {
      throw fromSystemError(e, `cannot read ${o}`)
    })
    if (s.dev !== dev) return `${o} is on another filesystem: nothing shared`
  }
  if (!findTool('xfs_io')) return 'sharing needs the xfs_io program, which is not installed (Debian package: xfsprogs): nothing shared'
  return undefined
}

/**
 * Why `dir` cannot share blocks, or undefined when it can: the filesystem's
 * type (statfs), then a real FIDEDUPERANGE of one 4 KiB block between two
 * hidden files made for it (removed at once). The probe catches what the type
 * cannot tell: XFS made without reflink (mkfs.xfs -m reflink=0, or before
 * xfsprogs 5.1), a kernel or mount that refuses.
 */
export async function probeSharing(dir: string): Promise<string | undefined> {
  const why = await whyCannotShare(dir, [])
  if (why) return why
  const stem = join(dir, `.vma-opt-share-probe-${process.pid}-${Math.random().toString(36).slice(2)}`)
  const [a, b] = [`${stem}-a`, `${stem}-b`]
  const block = Buffer.alloc(BLOCK, 0x5a)
  block.write(stem) // not all one byte: a filesystem may treat a block of zeros apart
  // Removed on SIGINT/SIGTERM too (vzdump stops a hook with SIGTERM): no sweep knows these names.
  trackFile(a)
  trackFile(b)
  try {
    await writeFile(a, block, { flag: 'wx' })
    await writeFile(b, block, { flag: 'wx' })
    const fd = openSync(a, 'r')
    let out = ''
    try {
      const child = spawnGuarded(findTool('xfs_io')!, ['-r', '-c', `fsync`, '-c', `dedupe /dev/fd/3 0 0 ${BLOCK}`, b], { stdio: ['ignore', 'pipe', 'pipe', fd] })
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d))
      await new Promise<void>(resolve => child.on('close', () => resolve()).on('error', () => resolve()))
    } finally {
      closeSync(fd)
    }
    if (new RegExp(`deduped ${BLOCK}/${BLOCK} bytes`).test(out)) return undefined
    const said =
      out
        .trim()
        .split('\n')[0]
        ?.replace(/^XFS_IOC_FILE_EXTENT_SAME: /, '') || 'no answer'
    return `the filesystem refused to share a block (${said}; XFS needs mkfs.xfs -m reflink=1): nothing shared`
  } catch (e) {
    return `cannot try sharing in ${dir} (${(e as Error).message}): nothing shared`
  } finally {
    removeFile(a)
    removeFile(b)
  }
}

/**
 * The blocks of the files to share with, by content: built once (it can run
 * while the new file is still being written), then used for one file or more.
 */
export class ShareSource {
  private constructor(
    readonly files: string[],
    private readonly table: BlockTable,
  ) {}

  static async index(files: string[]): Promise<ShareSource> {
    const src = await ShareSource.create(files)
    for (let i = 0; i < files.length; i++) await src.add(i)
    return src
  }

  /** An empty index for `files`, sized for the first (the table grows as need be). */
  static async create(files: string[]): Promise<ShareSource> {
    const first = files.length ? (await stat(files[0]!)).size : 0
    return new ShareSource(files, new BlockTable(Math.floor(first / BLOCK)))
  }

  /** The slot of a block with this hash in the index, or -1; then where it lies. */
  find(lo: number, hi: number): number {
    return this.table.find(lo, hi)
  }
  fileAt(slot: number): number {
    return this.table.fileAt(slot)
  }
  offsetAt(slot: number): number {
    return this.table.offsetAt(slot)
  }

  /** Files whose blocks are all in the index, and bytes of the next one that are. */
  private filesDone = 0
  private bytesDone = 0
  private progressed: Promise<void> = Promise.resolve()
  private tick: () => void = () => undefined

  /** Adds the blocks of files[i] (in order: i is the next file not indexed). */
  async add(i: number): Promise<void> {
    const h = new BlockHasher()
    this.bytesDone = 0
    const step = () => {
      const t = this.tick
      this.progressed = new Promise(resolve => (this.tick = resolve))
      t()
    }
    step()
    try {
      await scanBlocks(
        this.files[i]!,
        (words, at, offset) => {
          h.hash(words, at)
          this.table.add(h.lo, h.hi, i, offset)
          this.bytesDone = offset + BLOCK
        },
        async () => step(),
      )
    } finally {
      this.filesDone = i + 1
      this.bytesDone = 0
      step()
    }
  }

  /**
   * Waits until the index holds the blocks of files[file] up to `offset`
   * (or all it will hold): the index is used while it is still being built,
   * so that a lookup near a place already indexed need not wait for the rest.
   */
  async covered(file: number, offset: number, done: Promise<unknown>): Promise<void> {
    if (this.filesDone > file || this.bytesDone >= offset) return
    let finished = false
    void done.then(
      () => (finished = true),
      () => (finished = true),
    )
    while (!finished && this.filesDone <= file && this.bytesDone < offset) await Promise.race([this.progressed, done.catch(() => undefined)])
  }

  /**
   * Shares every block of `file` that equals one of the sources (per the
   * kernel's comparison). With `addAs` (file is files[addAs]), its blocks
   * that match none are added to the index, for the files after it.
   */
  async shareInto(file: string, addAs = -1): Promise<ShareResult> {
    const xfsIo = findTool('xfs_io')!
    const tool = DedupeTool.start(xfsIo, file, this.files)
    const h = new BlockHasher()
    const t = this.table
    // The run of consecutive blocks that match consecutive blocks of one source.
    let src = -1
    let srcAt = 0
    let at = 0
    let len = 0
    const flushRun = () => {
      if (len) tool.range(src, srcAt, at, len)
      len = 0
    }
    try {
      await scanBlocks(
        file,
        (words, w, offset) => {
          h.hash(words, w)
          const slot = t.find(h.lo, h.hi)
          if (slot < 0) {
            if (addAs >= 0) t.add(h.lo, h.hi, addAs, offset)
            return flushRun()
          }
          const f = t.fileAt(slot)
          const o = t.offsetAt(slot)
          if (len && f === src && o === srcAt + len && offset === at + len && len < MAX_RANGE) {
            len += BLOCK
            return
          }
          flushRun()
          src = f
          srcAt = o
          at = offset
          len = BLOCK
        },
        () => tool.flush(),
      )
      flushRun()
    } catch (e) {
      await tool.abort()
      throw e
    }
    const r = await tool.finish()
    // btrfs frees an extent only when no byte of it is referenced any more: the
    // blocks of the file that were not shared keep the whole extents they were
    // written in. Writing them again (the same bytes) moves them to new extents
    // of their own, and the old ones go.
    if ((await statfs(file)).type === BTRFS && r.shared > 0) await rewriteGaps(file, r.ranges)
    const why = r.failed && r.shared === 0 ? `the filesystem refused to share (${r.failed}): nothing shared` : undefined
    return { shared: r.shared, differ: r.differ, ...(why ? { why } : {}) }
  }
}

/** Writes again, with the same bytes, every part of `file` outside the given ranges (offset, length pairs in ascending order). */
async function rewriteGaps(file: string, ranges: number[]): Promise<void> {
  const fh = await open(file, 'r+')
  try {
    const size = (await fh.stat()).size
    const buf = Buffer.allocUnsafe(4 << 20)
    let pos = 0
    for (let i = 0; i <= ranges.length; i += 2) {
      const end = i < ranges.length ? ranges[i]! : size
      for (let p = pos; p < end; ) {
        const n = Math.min(buf.length, end - p)
        const { bytesRead } = await fh.read(buf, 0, n, p)
        if (bytesRead !== n) return // the file shrank: nothing of ours; the proof will say so
        await fh.write(buf, 0, n, p)
        p += n
      }
      if (i < ranges.length) pos = Math.max(pos, end + ranges[i + 1]!)
    }
  } finally {
    await fh.close()
  }
}
