// Opens what the user named (a path or "-" for stdin), finds the compression
// from the first bytes, and yields the plain VMA stream. A plain regular file
// also offers positional reads, so commands can skip data or read it out of
// order without spooling.

import { spawn, type ChildProcess } from 'node:child_process'
import { fstatSync, read, write } from 'node:fs'
import { promisify } from 'node:util'
import { once } from 'node:events'
import type { Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { Decompress } from 'fzstd'
import { VmaError, fromSystemError } from '../errors.js'
import { DETECT_BYTES, detectCompression, type Compression } from './detect.js'
import { findTool, requireTool } from './find-tool.js'
import { PositionalFile } from './positional-file.js'
import { ZstdFrameSplitter } from './zstd-frames.js'
import { loadHasher } from '../hasher.js'
import { trackChild } from '../temp-files.js'

/** Size of the buffers plain files are read with. */
export const READ_CHUNK = 4 << 20

export interface OpenOptions {
  /** Use fzstd even when the zstd program is installed (tests, odd systems). */
  forceFzstd?: boolean
  /** Read stdin from this stream instead of process.stdin (tests). */
  stdin?: Readable
}

export interface ArchiveInput {
  /** What the user gave: a path or "-". */
  readonly name: string
  /** For messages: the path, or "stdin". */
  readonly label: string
  readonly compression: Compression
  /** Which program or library decompresses, if any. */
  readonly decoder: string
  /** Present for plain (uncompressed) regular files: read at any offset. */
  readonly file?: PositionalFile
  /**
   * The plain VMA stream from its first byte. A yielded chunk is valid only
   * until the next one is asked for. Ends with an error if the compression
   * layer reports corruption. Can be iterated once.
   */
  chunks(): AsyncGenerator<Uint8Array>
  /**
   * Writes the whole plain stream to a file descriptor (a spool file), by the
   * fastest path: a decompressor writes into it directly. Throws like chunks().
   */
  writePlainTo(fd: number): Promise<void>
  close(): Promise<void>
}

export async function openInput(name: string, opts: OpenOptions = {}): Promise<ArchiveInput> {
  const label = name === '-' ? 'stdin' : name
  let file: PositionalFile | undefined
  /** A pipe or FIFO read with read(2) into reused buffers. */
  let pipeFd: number | undefined
  let stream: Readable | undefined
  if (name === '-') {
    const st = opts.stdin ? undefined : safeFstat(0)
    if (opts.stdin) stream = opts.stdin
    else if (st?.isFile()) file = PositionalFile.fromFd(0, st, label)
    else if (process.stdin.isTTY) throw new VmaError('VMA_USAGE', -1, 'stdin is a terminal: pipe an archive in, or name a file instead of -')
    else stream = process.stdin // event-driven: a read(2) blocked in a worker thread would stall exit on SIGINT
  } else {
    file = await PositionalFile.open(name, label)
    if (!file.seekable) pipeFd = file.fd // a FIFO or character device
  }

  // Peek at the first bytes to learn the compression.
  let head: Uint8Array
  let rest: AsyncIterator<Uint8Array> | undefined
  if (stream) {
    const it = (stream as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
    const got: Uint8Array[] = []
    let n = 0
    while (n < DETECT_BYTES) {
      const r = await it.next().catch(e => {
        throw fromSystemError(e, `cannot read ${label}`)
      })
      if (r.done) break
      got.push(r.value)
      n += r.value.length
    }
    head = Buffer.concat(got)
    rest = it
  } else if (pipeFd !== undefined) {
    const b = Buffer.alloc(DETECT_BYTES)
    let n = 0
    while (n < DETECT_BYTES) {
      const got = await readFd(pipeFd, b, n, DETECT_BYTES - n, label)
      if (got === 0) break
      n += got
    }
    head = b.subarray(0, n)
  } else {
    head = Buffer.alloc(DETECT_BYTES)
    head = head.subarray(0, await file!.read(head, 0, DETECT_BYTES, 0))
  }

  const detected = detectCompression(head)
  if (detected === 'bzip2' || detected === 'xz') {
    await file?.close()
    throw new VmaError('VMA_UNSUPPORTED_COMPRESSION', 0, `${detected}-compressed input is not supported; decompress it first (for example: ${detected === 'bzip2' ? 'bzcat' : 'xzcat'} FILE | vma-opt ... -)`, label)
  }
  const compression: Compression = detected === 'unknown' ? 'none' : detected

  /** The raw (still compressed) bytes, from the start. */
  async function* raw(): AsyncGenerator<Uint8Array> {
    if (rest) {
      if (head.length) yield head
      for (;;) {
        let r: IteratorResult<Uint8Array>
        try {
          r = await rest.next()
        } catch (e) {
          throw fromSystemError(e, `cannot read ${label}`)
        }
        if (r.done) return
        yield r.value
      }
    }
    if (pipeFd !== undefined) {
      if (head.length) yield head
      yield* readPipe(pipeFd, label)
      return
    }
    yield* readFile(file!)
  }

  // How the plain stream is made: an external program (reading the file
  // itself when it can), zlib, fzstd, or nothing.
  let tool: { path: string; args: string[] } | undefined
  let decoder = 'none'
  if (compression === 'zstd' && !opts.forceFzstd) {
    const zstd = findTool('zstd')
    if (zstd) tool = { path: zstd, args: ['-d', '-c', '-q'] }
  } else if (compression === 'lzop') {
    tool = { path: requireTool('lzop', `reading the lzop-compressed ${label}`), args: ['-d', '-c', '-q'] }
  }
  const fileFd = file && !rest && pipeFd === undefined ? file.fd : undefined
  let chunks: () => AsyncGenerator<Uint8Array>
  if (tool) {
    decoder = tool.path
    chunks = () => runDecoder(tool!.path, tool!.args, fileFd, fileFd === undefined ? raw() : undefined, label)
  } else if (compression === 'gzip') {
    decoder = 'zlib'
    chunks = () => gunzip(raw(), label)
  } else if (compression === 'zstd') {
    decoder = 'fzstd'
    chunks = () => fzstd(raw(), label)
  } else chunks = raw

  return {
    name,
    label,
    compression,
    decoder,
    file: compression === 'none' && file?.seekable ? file : undefined,
    chunks,
    async writePlainTo(fd: number) {
      // A decompressor writes straight into the file: no pipe to cross,
      // which on some machines costs more than the decompression itself.
      if (tool) {
        await runDecoderTo(tool.path, tool.args, fileFd, fileFd === undefined ? raw() : undefined, fd, label)
        return
      }
      // Small chunks (64 KiB from a pipe) are gathered into large writes; two
      // buffers take turns so reading goes on while the last one is written.
      const bufs = [Buffer.allocUnsafe(4 << 20), Buffer.allocUnsafe(4 << 20)]
      let turn = 0
      let fill = 0
      let pos = 0
      let pending: Promise<void> = Promise.resolve()
      const writeOut = async (buf: Buffer, len: number, at: number) => {
        let off = 0
        try {
          while (off < len) off += (await writeP(fd, buf, off, len - off, at + off)).bytesWritten
        } catch (e) {
          throw fromSystemError(e, 'cannot write the spool file')
        }
      }
      const flush = async () => {
        await pending
        pending = writeOut(bufs[turn]!, fill, pos)
        pending.catch(() => undefined) // awaited by the next flush
        pos += fill
        fill = 0
        turn ^= 1
      }
      for await (const c of chunks()) {
        for (let at = 0; at < c.length; ) {
          const take = Math.min(c.length - at, bufs[turn]!.length - fill)
          bufs[turn]!.set(c.subarray(at, at + take), fill)
          fill += take
          at += take
          if (fill === bufs[turn]!.length) await flush()
        }
      }
      await flush()
      await pending
    },
    close: async () => {
      await file?.close()
      if (stream && stream !== process.stdin) stream.destroy()
    },
  }
}

function safeFstat(fd: number) {
  try {
    return fstatSync(fd)
  } catch {
    return undefined
  }
}

const readP = promisify(read)
const writeP = promisify(write)

/** One read(2) on a pipe; waits and retries while it would block (a non-blocking stdin). */
async function readFd(fd: number, buf: Buffer, off: number, len: number, label: string): Promise<number> {
  for (;;) {
    try {
      return (await readP(fd, buf, off, len, null)).bytesRead
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
        await new Promise(r => setTimeout(r, 2))
        continue
      }
      throw fromSystemError(e, `cannot read ${label}`)
    }
  }
}

/** A pipe read into two reused buffers: one is being filled while the caller works on the other. */
async function* readPipe(fd: number, label: string): AsyncGenerator<Uint8Array> {
  const bufs = [Buffer.allocUnsafe(1 << 20), Buffer.allocUnsafe(1 << 20)]
  let which = 0
  let pending = readFd(fd, bufs[0]!, 0, bufs[0]!.length, label)
  for (;;) {
    const n = await pending
    if (n === 0) return
    const buf = bufs[which]!
    which ^= 1
    pending = readFd(fd, bufs[which]!, 0, bufs[which]!.length, label)
    yield buf.subarray(0, n)
  }
}

/** Sequential reads with two buffers, so the next read runs while the caller works. */
export async function* readFile(file: PositionalFile): AsyncGenerator<Uint8Array> {
  const bufs = [Buffer.allocUnsafe(READ_CHUNK), Buffer.allocUnsafe(READ_CHUNK)]
  let pos = 0
  let which = 0
  let pending = file.read(bufs[0]!, 0, READ_CHUNK, 0)
  for (;;) {
    const n = await pending
    if (n === 0) return
    const buf = bufs[which]!
    pos += n
    which ^= 1
    pending = n < READ_CHUNK ? Promise.resolve(0) : file.read(bufs[which]!, 0, READ_CHUNK, pos)
    yield n === READ_CHUNK ? buf : buf.subarray(0, n)
  }
}

async function* gunzip(src: AsyncGenerator<Uint8Array>, label: string): AsyncGenerator<Uint8Array> {
  const z = createGunzip({ chunkSize: 1 << 20 })
  let failure: Error | undefined
  z.on('error', e => (failure = e))
  const pump = (async () => {
    try {
      for await (const c of src) {
        if (failure) break
        if (!z.write(c)) await once(z, 'drain').catch(() => undefined)
      }
      z.end()
    } catch (e) {
      failure ??= e as Error
      z.destroy()
    }
  })()
  try {
    for await (const out of z) yield out as Uint8Array
  } catch (e) {
    failure ??= e as Error
  } finally {
    z.destroy()
    await pump
  }
  if (failure) {
    if (failure instanceof VmaError) throw failure
    throw new VmaError('VMA_COMPRESSION_CORRUPT', -1, `gzip data is corrupt: ${failure.message}`, label)
  }
}

async function* fzstd(src: AsyncGenerator<Uint8Array>, label: string): AsyncGenerator<Uint8Array> {
  // Each frame gets its own decoder, and its output is hashed to check the
  // frame's content checksum, which fzstd itself does not verify.
  const xx = await loadHasher()
  const out: Uint8Array[] = []
  let dec: Decompress | undefined
  let hash: ReturnType<typeof xx.create64> | undefined
  const splitter = new ZstdFrameSplitter(
    {
      frameBytes(b) {
        if (!dec) {
          hash = xx.create64(0n)
          dec = new Decompress(chunk => {
            hash!.update(chunk)
            out.push(chunk)
          })
        }
        // fzstd may keep what it is given until it can decode it, and both the
        // splitter's and the reader's buffers are reused: hand it a copy.
        dec.push(Uint8Array.prototype.slice.call(b)) // Buffer#slice would share memory
      },
      frameEnd(checksum) {
        dec!.push(new Uint8Array(0), true)
        const actual = Number(hash!.digest() & 0xffffffffn)
        dec = undefined
        if (checksum !== undefined && checksum !== actual) {
          throw new VmaError('VMA_COMPRESSION_CORRUPT', -1, `zstd data is corrupt: content checksum ${actual.toString(16)} does not match the stored ${checksum.toString(16)}`, label)
        }
      },
    },
    label,
  )
  try {
    for await (const c of src) {
      splitter.write(c)
      while (out.length) yield out.shift()!
    }
    splitter.end()
    while (out.length) yield out.shift()!
  } catch (e) {
    if (e instanceof VmaError) throw e
    throw new VmaError('VMA_COMPRESSION_CORRUPT', -1, `zstd data is corrupt: ${(e as Error).message}`, label)
  }
}

/**
 * A running decompressor: its stdin is a file descriptor we pass or our pump
 * of `feed`; its stdout a pipe to us or a file. finish() waits for it and
 * turns a non-zero exit into a VmaError (corruption, or no space).
 */
class Decoder {
  readonly child: ChildProcess
  private stderr = ''
  private readonly exited: Promise<number | null>
  private readonly pump: Promise<void>
  private feedError: unknown

  constructor(
    private readonly tool: string,
    args: string[],
    inFd: number | undefined,
    out: 'pipe' | number,
    private readonly feed: AsyncGenerator<Uint8Array> | undefined,
    private readonly label: string,
  ) {
    this.child = spawn(tool, args, { stdio: [inFd ?? 'pipe', out, 'pipe'] })
    trackChild(this.child)
    this.child.stderr!.on('data', (d: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += d.toString()
    })
    this.exited = new Promise(resolve => {
      this.child.on('close', code => resolve(code))
      this.child.on('error', () => resolve(-1))
    })
    this.pump = feed ? this.feedAll(feed) : Promise.resolve()
  }

  private async feedAll(feed: AsyncGenerator<Uint8Array>): Promise<void> {
    const sin = this.child.stdin!
    sin.on('error', () => undefined) // EPIPE when the decoder stops early
    try {
      for await (const c of feed) {
        if (sin.destroyed) break
        // The chunk's buffer is reused once we ask for the next: wait until the pipe took it.
        const ok = await new Promise<boolean>(resolve => sin.write(c, err => resolve(!err)))
        if (!ok) break
      }
    } catch (e) {
      this.feedError = e
      this.child.kill('SIGTERM')
    }
    sin.end()
  }

  /** Stops it early (the reader lost interest). */
  async stop(): Promise<void> {
    this.child.kill('SIGTERM')
    this.feed?.return(undefined).catch(() => undefined)
    await this.pump
  }

  async finish(): Promise<void> {
    await this.pump
    const code = await this.exited
    if (this.feedError) throw this.feedError
    if (code !== 0) {
      const why = this.stderr.trim().split('\n').pop() || `exit status ${code}`
      const name = this.tool.split('/').pop()
      const nospace = /no space/i.test(why)
      throw new VmaError(nospace ? 'VMA_NO_SPACE' : 'VMA_COMPRESSION_CORRUPT', -1, `${name} failed: ${why.replace(/^zstd: |^lzop: /, '')}`, this.label)
    }
  }
}

/** The decompressor's output, as a stream of chunks. */
async function* runDecoder(tool: string, args: string[], fd: number | undefined, feed: AsyncGenerator<Uint8Array> | undefined, label: string): AsyncGenerator<Uint8Array> {
  const d = new Decoder(tool, args, fd, 'pipe', feed, label)
  let finished = false
  try {
    for await (const out of d.child.stdout!) yield out as Uint8Array
    finished = true
  } finally {
    if (!finished) await d.stop()
  }
  await d.finish()
}

/** Runs a decompressor whose output goes straight into `outFd`. */
async function runDecoderTo(tool: string, args: string[], inFd: number | undefined, feed: AsyncGenerator<Uint8Array> | undefined, outFd: number, label: string): Promise<void> {
  await new Decoder(tool, args, inFd, outFd, feed, label).finish()
}
