// Opens what the user named (a path or "-" for stdin), finds the compression
// from the first bytes, and yields the plain VMA stream. A plain regular file
// also offers positional reads, so commands can skip data or read it out of
// order without spooling.

import { fstatSync, write } from 'node:fs'
import type { Readable } from 'node:stream'
import { promisify } from 'node:util'
import { VmaError, fromSystemError } from '../errors.js'
import { fzstd, gunzip, runDecoder, runDecoderTo } from './decoders.js'
import { DETECT_BYTES, detectCompression, type Compression } from './detect.js'
import { findTool, requireTool } from './find-tool.js'
import { PositionalFile } from './positional-file.js'
import { readFd, readFile, readPipe } from './sequential-readers.js'

export { READ_CHUNK, readFile } from './sequential-readers.js'

const writeP = promisify(write)

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
