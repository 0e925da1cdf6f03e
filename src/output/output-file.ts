// src/output/: bytes out. A temp file next to its final name, an optional
// compressor in front of it, fsync, atomic rename, removal on failure.
//
// The output of a command that writes an archive: a temp file next to its
// final name (so the last step is an atomic rename on one file system),
// optionally fed through a compressor. Nothing is published until
// commit(); abort() and signals remove the temp file.

import type { ChildProcess } from 'node:child_process'
import { link, lstat, open, rename, unlink, type FileHandle } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { VmaError, fromSystemError } from '../util/errors.js'
import { requireTool, findTool } from '../util/find-tool.js'
import { removeFile, trackFile, untrackFile } from '../util/temp-files.js'
import { spawnGuarded } from '../util/spawn-guarded.js'
import { sweepStaleTemps } from '../util/temp-names.js'
import { zeroLzopTime } from './lzop-header.js'

/** Bytes written between two early fdatasyncs of a plain output (see startWriteback). */
const WRITEBACK_STEP = 256 << 20

export type OutputCompression = 'none' | 'zstd' | 'gzip' | 'lzop'

export interface OutputOptions {
  compression: OutputCompression
  /** zstd worker threads (zstd -T); 0 means one per core. Default 1, as vzdump. */
  zstdThreads?: number
  /**
   * Mode the file is created with; the umask still applies, so a stricter
   * umask wins. Default 0600: callers that keep a source's mode set it
   * (exactly) just before publishing.
   */
  createMode?: number
  /**
   * What the temp file will become (DEST, or "stdout"), named in errors: a
   * person looks for /dump/x.vma, not for its hidden temp file. Default: the
   * temp file's own path.
   */
  shownAs?: string
}

/** The compressor command for each output compression, in its rsync-friendly mode. */
export function compressorCommand(c: OutputCompression, zstdThreads = 1): { tool: string; args: string[] } | undefined {
  switch (c) {
    case 'none':
      return undefined
    case 'zstd':
      // --rsyncable keeps compressed output deduplicating; it needs zstd's threaded mode (any -T).
      return { tool: requireTool('zstd', 'writing zstd output'), args: ['-q', '-c', '--rsyncable', `-T${zstdThreads}`] }
    case 'gzip': {
      const pigz = findTool('pigz')
      if (pigz) return { tool: pigz, args: ['-c', '-n', '--rsyncable'] }
      return { tool: requireTool('gzip', 'writing gzip output'), args: ['-c', '-n', '--rsyncable'] }
    }
    case 'lzop':
      return { tool: requireTool('lzop', 'writing lzop output'), args: ['-c', '-q'] }
  }
}

/** The output compression a file name asks for. */
export function compressionFromName(path: string): OutputCompression {
  if (/\.zst$/i.test(path)) return 'zstd'
  if (/\.gz$/i.test(path)) return 'gzip'
  if (/\.lzo$/i.test(path)) return 'lzop'
  return 'none'
}

/** A hidden name that neither Proxmox nor a glob for backups takes for a backup (util/temp-names). */
export { tempNameFor } from '../util/temp-names.js'

export class OutputFile {
  bytesIn = 0
  private child?: ChildProcess
  private childExit?: Promise<{ code: number | null; stderr: string }>
  private done = false
  private ended = false
  private synced = 0
  private writeback?: Promise<void>
  private writebackError?: unknown

  private constructor(
    readonly path: string,
    private readonly shown: string,
    private readonly fh: FileHandle,
    private readonly toolName: string,
    private readonly compression: OutputCompression,
  ) {}

  static async create(path: string, o: OutputOptions): Promise<OutputFile> {
    const cmd = compressorCommand(o.compression, o.zstdThreads) // a missing tool fails before any file exists
    sweepStaleTemps(dirname(path)) // what killed runs left here
    trackFile(path)
    let fh: FileHandle
    try {
      fh = await open(path, 'wx+', o.createMode ?? 0o600) // + : lzop's header is patched after writing
    } catch (e) {
      untrackFile(path)
      throw fromSystemError(e, `cannot create ${o.shownAs ?? path}`)
    }
    const out = new OutputFile(path, o.shownAs ?? path, fh, cmd ? basename(cmd.tool) : '', o.compression)
    if (cmd) {
      // Its stdin is a pipe from us: it ends with us, by EOF or (setpriv) at once.
      const child = spawnGuarded(cmd.tool, cmd.args, { stdio: ['pipe', fh.fd, 'pipe'] })
      out.child = child
      let stderr = ''
      child.stderr!.on('data', (d: Buffer) => {
        if (stderr.length < 4096) stderr += d.toString()
      })
      child.stdin!.on('error', () => undefined) // reported through the exit status
      out.childExit = new Promise(resolve => {
        child.on('close', code => resolve({ code, stderr }))
        child.on('error', err => resolve({ code: -1, stderr: err.message }))
      })
    }
    return out
  }

  /**
   * Writes `buf` after everything written before; the caller may reuse it
   * once this resolves. Several writes may be outstanding at a time.
   */
  async write(buf: Uint8Array): Promise<void> {
    const at = this.bytesIn // each write has its place, whatever order they finish in
    this.bytesIn += buf.length
    if (this.child) {
      const sin = this.child.stdin!
      if (sin.destroyed) return this.failCompressor()
      await new Promise<void>((resolve, reject) => {
        sin.write(buf, err => (err ? this.failCompressor().then(resolve, reject) : resolve()))
      })
      return
    }
    try {
      let off = 0
      while (off < buf.length) off += (await this.fh.write(buf, off, buf.length - off, at + off)).bytesWritten
    } catch (e) {
      throw fromSystemError(e, `cannot write ${this.shown}`)
    }
    this.startWriteback()
  }

  /**
   * Every WRITEBACK_STEP bytes, an fdatasync that nobody waits for: the disk
   * starts writing while the rest is produced and read back, instead of the
   * whole archive waiting in the page cache for the final fsync (which then
   * has little left to do). Its errors surface in finish().
   */
  private startWriteback(): void {
    if (this.writeback || this.bytesIn < this.synced + WRITEBACK_STEP) return
    this.synced = this.bytesIn
    this.writeback = this.fh.datasync().then(
      () => {
        this.writeback = undefined
      },
      e => {
        this.writebackError ??= e
        this.writeback = undefined
      },
    )
  }

  private async failCompressor(): Promise<never> {
    const r = await this.childExit!
    const why = r.stderr.trim().split('\n').pop() || `exit status ${r.code}`
    const nospace = /no space/i.test(why)
    throw new VmaError(nospace ? 'VMA_NO_SPACE' : 'VMA_IO', -1, `${this.toolName} failed writing ${this.shown}: ${why}`)
  }

  /** Ends the stream and waits for the compressor: the file then holds every byte (not yet durably). */
  async end(): Promise<void> {
    if (this.ended) return
    this.ended = true
    if (this.child) {
      this.child.stdin!.end()
      const r = await this.childExit!
      if (r.code !== 0) await this.failCompressor()
    }
    try {
      if (this.compression === 'lzop') {
        // lzop stamps the time into its header; zero it so equal input gives equal output.
        const head = Buffer.alloc(512)
        const { bytesRead } = await this.fh.read(head, 0, head.length, 0)
        const h = head.subarray(0, bytesRead)
        if (zeroLzopTime(h)) await this.fh.write(h, 0, h.length, 0)
      }
    } catch (e) {
      throw fromSystemError(e, `cannot write ${this.shown}`)
    }
  }

  /** Ends the stream (see end) and makes the bytes durable. */
  async finish(): Promise<void> {
    await this.end()
    try {
      await this.writeback
      if (this.writebackError) throw this.writebackError
      await this.fh.sync()
      await this.fh.close()
    } catch (e) {
      throw fromSystemError(e, `cannot write ${this.shown}`)
    }
    this.done = true
  }

  /**
   * Renames the finished file over `finalPath` and syncs the directory. With
   * `noClobber`, a `finalPath` that appeared meanwhile (another run, minutes
   * after it was checked) is not replaced: link(2) publishes only a new name.
   */
  async commit(finalPath: string, noClobber = false): Promise<void> {
    if (!this.done) throw new Error('commit before finish')
    try {
      if (noClobber) await publishNew(this.path, finalPath)
      else await rename(this.path, finalPath)
    } catch (e) {
      throw fromSystemError(e, `cannot put ${finalPath} in place (renaming its temp file ${basename(this.path)})`)
    }
    untrackFile(this.path)
    await syncDir(dirname(finalPath))
  }

  /** Removes the temp file (after an error). */
  async abort(): Promise<void> {
    this.child?.kill('SIGTERM')
    await this.writeback
    if (!this.done) await this.fh.close().catch(() => undefined)
    removeFile(this.path)
  }
}

/** Gives `temp` the new name `finalPath`, failing with EEXIST if that exists by now. */
async function publishNew(temp: string, finalPath: string): Promise<void> {
  try {
    await link(temp, finalPath)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new VmaError('VMA_EXISTS', -1, `${finalPath} exists now (created while this ran); use --force to replace it`)
    // A file system without hard links: check once more and rename (a small window, not the whole run).
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK') throw e
    if (
      await lstat(finalPath).then(
        () => true,
        () => false,
      )
    )
      throw new VmaError('VMA_EXISTS', -1, `${finalPath} exists now (created while this ran); use --force to replace it`)
    await rename(temp, finalPath)
    return
  }
  await unlink(temp)
}

export async function syncDir(dir: string): Promise<void> {
  try {
    const d = await open(dir, 'r')
    await d.sync().catch(() => undefined)
    await d.close()
  } catch {
    // some file systems cannot open or sync a directory; the rename stands
  }
}
