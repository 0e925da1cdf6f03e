// Asks the kernel to share ranges of one file with ranges of others that hold
// the same bytes (FIDEDUPERANGE: the kernel locks both, compares them and
// shares only when they are equal, so a wrong candidate is refused, never
// shared). Node has no binding for the ioctl; xfs_io from xfsprogs issues it
// for us (its `dedupe` command works on XFS and btrfs alike): one process per
// file, commands on its stdin, the archives to share with passed as open
// descriptors (/dev/fd/3, 4, ...) so that no path is ever parsed as a command.
// Why xfs_io and not a native binding: spec/sharing.md (measured).

import { openSync, closeSync } from 'node:fs'
import type { ChildProcess } from 'node:child_process'
import { spawnGuarded } from '../util/spawn-guarded.js'
import { VmaError } from '../util/errors.js'

/** What the kernel did with the ranges it was given. */
export interface DedupeOutcome {
  /** Bytes now shared. */
  shared: number
  /** Ranges the kernel found different (hash collisions, or a file changed meanwhile). */
  differ: number
  /** The first other error xfs_io reported (the filesystem cannot share, ...). */
  failed?: string
  /** Where the shared ranges of the file are: offset, length, offset, length... in the order given. */
  ranges: number[]
}

/** Bytes of command text gathered before one write to xfs_io's stdin. */
const BATCH = 64 << 10

export class DedupeTool {
  private text = ''
  private readonly outcome: DedupeOutcome = { shared: 0, differ: 0, ranges: [] }
  private readonly done: Promise<number | null>
  private outTail = ''
  private errTail = ''

  private constructor(
    private readonly child: ChildProcess,
    private readonly fds: number[],
    private readonly verb: 'dedupe' | 'reflink',
  ) {
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (this.outTail = this.lines(this.outTail + s, l => this.stdoutLine(l))))
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (this.errTail = this.lines(this.errTail + s, l => this.stderrLine(l))))
    child.stdin!.on('error', () => undefined) // xfs_io gone: its exit status says why
    this.done = new Promise((resolve, reject) => {
      child.on('error', e => reject(new VmaError('VMA_TOOL_MISSING', -1, `cannot run xfs_io: ${e.message}`)))
      child.on('close', code => resolve(code))
    })
    this.done.catch(() => undefined)
  }

  /**
   * xfs_io on `dest`, with `sources` open as /dev/fd/3, 4, ... `dedupe`
   * (FIDEDUPERANGE: the kernel compares first; dest opened read-only, the
   * kernel lets the owner share into it) or `reflink` (FICLONERANGE: no
   * comparison, the caller compared; dest opened for writing).
   */
  static start(xfsIo: string, dest: string, sources: string[], verb: 'dedupe' | 'reflink' = 'dedupe'): DedupeTool {
    const fds = sources.map(s => openSync(s, 'r'))
    try {
      const child = spawnGuarded(xfsIo, [...(verb === 'dedupe' ? ['-r'] : []), dest], { stdio: ['pipe', 'pipe', 'pipe', ...fds] })
      return new DedupeTool(child, fds, verb)
    } catch (e) {
      for (const fd of fds) closeSync(fd)
      throw e
    }
  }

  /** Share `len` bytes at `destOffset` with those at `srcOffset` of source `src` if they are equal. */
  range(src: number, srcOffset: number, destOffset: number, len: number): void {
    this.text += `${this.verb} /dev/fd/${3 + src} ${srcOffset} ${destOffset} ${len}\n`
  }

  /**
   * Asks the kernel to start reading `len` bytes at `offset` of the file into
   * its page cache (posix_fadvise WILLNEED), in xfs_io's own time: a range
   * just cloned is not in the file's cache, and the read-back proof then
   * finds it there instead of waiting for the disk.
   */
  willNeed(offset: number, len: number): void {
    this.text += `fadvise -w ${offset} ${len}\n`
  }

  /** Hands the gathered commands over once there are enough, waiting while xfs_io is behind. */
  async flush(force = false): Promise<void> {
    if (!this.text || (!force && this.text.length < BATCH)) return
    const stdin = this.child.stdin!
    const ok = stdin.write(this.text)
    this.text = ''
    if (!ok && !stdin.destroyed) await new Promise<void>(resolve => stdin.once('drain', resolve).once('close', resolve))
  }

  /** Ends the commands and waits for xfs_io to carry them out. */
  async finish(): Promise<DedupeOutcome> {
    try {
      await this.flush(true)
      this.child.stdin!.end()
      const code = await this.done
      this.lines(this.outTail + '\n', l => this.stdoutLine(l))
      this.lines(this.errTail + '\n', l => this.stderrLine(l))
      if (code !== 0 && !this.outcome.failed) this.outcome.failed = `xfs_io exited with status ${code}`
      return this.outcome
    } finally {
      this.close()
    }
  }

  /** Stops xfs_io (on an error elsewhere). */
  async abort(): Promise<void> {
    this.child.kill('SIGKILL')
    await this.done.catch(() => undefined)
    this.close()
  }

  private close(): void {
    for (const fd of this.fds.splice(0)) closeSync(fd)
  }

  private lines(s: string, each: (l: string) => void): string {
    const parts = s.split('\n')
    const tail = parts.pop()!
    for (const l of parts) if (l) each(l)
    return tail
  }

  // "deduped 4096/4096 bytes at offset 12288" ("linked ..." for reflink), then a line of timing.
  private stdoutLine(l: string): void {
    const m = /^(?:deduped|linked) (\d+)\/\d+ bytes at offset (\d+)/.exec(l)
    if (!m) return
    this.outcome.shared += Number(m[1])
    this.outcome.ranges.push(Number(m[2]), Number(m[1]))
  }

  // "XFS_IOC_FILE_EXTENT_SAME: Extents did not match." for a range that differs; anything else is a failure.
  private stderrLine(l: string): void {
    if (this.verb === 'dedupe' && /did not match/.test(l)) this.outcome.differ++
    else this.outcome.failed ??= l.replace(/^XFS_IOC_(FILE_EXTENT_SAME|CLONE_RANGE): /, '').trim()
  }
}
