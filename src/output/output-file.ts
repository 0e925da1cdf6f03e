// src/output/: bytes out. A temp file next to its final name, an optional
// compressor in front of it, fsync, atomic rename, removal on failure.
//
// The output of a command that writes an archive: a temp file next to its
// final name (so the last step is an atomic rename on one file system),
// optionally fed through a compressor. Nothing is published until
// commit(); abort() and signals remove the temp file.

import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { open, rename, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { VmaError, fromSystemError } from '../util/errors.js'
import { requireTool, findTool } from '../util/find-tool.js'
import { removeFile, trackChild, trackFile, untrackFile } from '../util/temp-files.js'
import { zeroLzopTime } from './lzop-header.js'

/** Bytes written between two early fdatasyncs of a plain output (see startWriteback). */
const WRITEBACK_STEP = 256 << 20

export type OutputCompression = 'none' | 'zstd' | 'gzip' | 'lzop'

export interface OutputOptions {
  compression: OutputCompression
  /** zstd worker threads (zstd -T); 0 means one per core. Default 1, as vzdump. */
  zstdThreads?: number
  /** File mode of the result. */
  mode?: number
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

/** A name that neither Proxmox nor a glob for backups takes for a backup. */
export function tempNameFor(finalPath: string, tag = 'tmp'): string {
  return join(dirname(finalPath), `.${basename(finalPath)}.vma-opt-${process.pid}-${randomBytes(4).toString('hex')}.${tag}`)
}

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
    private readonly fh: FileHandle,
    private readonly toolName: string,
    private readonly compression: OutputCompression,
  ) {}

  static async create(path: string, o: OutputOptions): Promise<OutputFile> {
    const cmd = compressorCommand(o.compression, o.zstdThreads) // a missing tool fails before any file exists
    trackFile(path)
    let fh: FileHandle
    try {
      fh = await open(path, 'wx+', o.mode ?? 0o644) // + : lzop's header is patched after writing
    } catch (e) {
      untrackFile(path)
      throw fromSystemError(e, `cannot create ${path}`)
    }
    if (o.mode !== undefined) await fh.chmod(o.mode).catch(() => undefined) // umask must not narrow the source's mode
    const out = new OutputFile(path, fh, cmd ? basename(cmd.tool) : '', o.compression)
    if (cmd) {
      const child = spawn(cmd.tool, cmd.args, { stdio: ['pipe', fh.fd, 'pipe'] })
      trackChild(child)
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
      throw fromSystemError(e, `cannot write ${this.path}`)
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
    throw new VmaError(nospace ? 'VMA_NO_SPACE' : 'VMA_IO', -1, `${this.toolName} failed writing ${this.path}: ${why}`)
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
      throw fromSystemError(e, `cannot write ${this.path}`)
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
      throw fromSystemError(e, `cannot write ${this.path}`)
    }
    this.done = true
  }

  /** Renames the finished file over `finalPath` and syncs the directory. */
  async commit(finalPath: string): Promise<void> {
    if (!this.done) throw new Error('commit before finish')
    try {
      await rename(this.path, finalPath)
    } catch (e) {
      throw fromSystemError(e, `cannot rename ${this.path} to ${finalPath}`)
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

export async function syncDir(dir: string): Promise<void> {
  try {
    const d = await open(dir, 'r')
    await d.sync().catch(() => undefined)
    await d.close()
  } catch {
    // some file systems cannot open or sync a directory; the rename stands
  }
}
