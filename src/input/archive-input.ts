// src/input/: bytes in. Opening a path, a FIFO or stdin, recognising the
// compression, running decompressors, positional reads of plain files, and
// spooling what cannot be read out of order.
//
// Opens what the user named (a path or "-" for stdin), finds the compression
// from the first bytes, and yields the plain VMA stream. A plain regular file
// also offers positional reads, so commands can skip data or read it out of
// order without spooling.

import { fstatSync, write } from 'node:fs'
import type { Readable } from 'node:stream'
import { promisify } from 'node:util'
import { VmaError, fromSystemError } from '../util/errors.js'
import { fzstd, gunzip, runDecoder, runDecoderTo } from './decoders.js'
import { WINDOW_LOG_MAX, libzstdDecode } from './libzstd.js'
import { firstFrameWindow } from './zstd-frames.js'
import { libzstd, libzstdMissing } from '../util/libzstd.js'
import { DETECT_BYTES, detectCompression, type Compression } from './detect.js'
import { findTool, requireTool } from '../util/find-tool.js'
import { childrenDieWithUs } from '../util/spawn-guarded.js'
import { PositionalFile } from './positional-file.js'
import { READ_CHUNK, readFd, readFile, readPipe } from './sequential-readers.js'

export { READ_CHUNK, readFile } from './sequential-readers.js'

const writeP = promisify(write)

/** Who decodes zstd: libzstd in this process, the zstd program through a pipe, or fzstd (JavaScript). */
export type ZstdDecoder = 'library' | 'program' | 'fzstd'

export interface OpenOptions {
  /** Use fzstd even when the zstd program is installed (tests, odd systems). */
  forceFzstd?: boolean
  /**
   * Who decodes zstd. Default: VMA_OPT_ZSTD_DECODER if set, else libzstd
   * when its binding loads, else the zstd program, else fzstd.
   */
  zstdDecoder?: ZstdDecoder
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

/** Where the bytes come from: a file (positional reads), a pipe or FIFO (read(2)), or a stream (stdin). */
interface Source {
  file?: PositionalFile
  /** A pipe or FIFO read with read(2) into reused buffers. */
  pipeFd?: number
  stream?: Readable
}

async function openSource(name: string, label: string, opts: OpenOptions): Promise<Source> {
  if (name !== '-') {
    const file = await PositionalFile.open(name, label)
    return file.seekable ? { file } : { file, pipeFd: file.fd } // a FIFO or character device
  }
  if (opts.stdin) return { stream: opts.stdin }
  const st = safeFstat(0)
  if (st?.isFile()) return { file: PositionalFile.fromFd(0, st, label) }
  if (process.stdin.isTTY) throw new VmaError('VMA_USAGE', -1, 'stdin is a terminal: pipe an archive in, or name a file instead of -')
  return { stream: process.stdin } // event-driven: a read(2) blocked in a worker thread would stall exit on SIGINT
}

/** The first bytes, to learn the compression; for a stream, also the iterator to go on with. */
async function peekHead(src: Source, label: string): Promise<{ head: Uint8Array; rest?: AsyncIterator<Uint8Array> }> {
  if (src.stream) {
    const it = (src.stream as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
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
    return { head: Buffer.concat(got), rest: it }
  }
  const b = Buffer.alloc(DETECT_BYTES)
  if (src.pipeFd !== undefined) {
    let n = 0
    while (n < DETECT_BYTES) {
      const got = await readFd(src.pipeFd, b, n, DETECT_BYTES - n, label)
      if (got === 0) break
      n += got
    }
    return { head: b.subarray(0, n) }
  }
  return { head: b.subarray(0, await src.file!.read(b, 0, DETECT_BYTES, 0)) }
}

/** The raw (still compressed) bytes, from the start. */
async function* rawBytes(src: Source, head: Uint8Array, rest: AsyncIterator<Uint8Array> | undefined, label: string, chunk: number): AsyncGenerator<Uint8Array> {
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
  if (src.pipeFd !== undefined) {
    if (head.length) yield head
    yield* readPipe(src.pipeFd, label)
    return
  }
  yield* readFile(src.file!, chunk)
}

/** Bytes per read of a file that is decoded here (libzstd, zlib, fzstd): 2 buffers, for every reading at once. */
const RAW_CHUNK = 1 << 20

/**
 * Who decodes this zstd stream, whose first bytes are `head`. Asking for
 * libzstd where its binding did not load is a usage error rather than a
 * silent change of decoder (tests and users who ask for it want to know).
 */
function zstdDecoder(opts: OpenOptions, asked: ZstdDecoder | undefined, head: Uint8Array): ZstdDecoder {
  if (opts.forceFzstd) return 'fzstd'
  if (asked === 'library' && !libzstd()) throw new VmaError('VMA_USAGE', -1, `the zstd decoder "library" was asked for, but the zstd-napi binding did not load: ${libzstdMissing()}`)
  if (asked) return asked
  const program = findTool('zstd')
  // A window over what libzstd may allocate here (a `zstd --long` or
  // `--ultra` file): the program decodes it in its own memory.
  const window = firstFrameWindow(head)
  if (libzstd() && !(program && window !== undefined && window > 2 ** WINDOW_LOG_MAX)) return 'library'
  return program ? 'program' : 'fzstd'
}

/** The zstd decoder the caller or VMA_OPT_ZSTD_DECODER asked for, if any; a wrong value is a usage error. */
function zstdDecoderAsked(opts: OpenOptions): ZstdDecoder | undefined {
  const asked = opts.zstdDecoder ?? (process.env.VMA_OPT_ZSTD_DECODER || undefined)
  if (asked !== undefined && asked !== 'library' && asked !== 'program' && asked !== 'fzstd') {
    throw new VmaError('VMA_USAGE', -1, `VMA_OPT_ZSTD_DECODER must be library, program or fzstd, not ${JSON.stringify(asked)}`)
  }
  return asked
}

// The program also decodes gzip, xz or lz4 data concatenated after a zstd
// frame (no flag stops it: --format applies to compressing), which libzstd
// and fzstd refuse. Either way, what comes out is checked as a VMA stream.
const ZSTD_DECODE_ARGS = ['-d', '-c', '-q']

/** An external program that decompresses, if one is used for this compression. */
function decoderTool(compression: Compression, zstd: ZstdDecoder | undefined, label: string): { path: string; args: string[] } | undefined {
  if (compression === 'zstd') {
    if (zstd !== 'program') return undefined
    return { path: requireTool('zstd', `reading the zstd-compressed ${label}`), args: ZSTD_DECODE_ARGS }
  }
  if (compression === 'lzop') return { path: requireTool('lzop', `reading the lzop-compressed ${label}`), args: ['-d', '-c', '-q'] }
  return undefined
}

/**
 * Copies chunks into fd from offset 0. Small chunks (64 KiB from a pipe) are
 * gathered into large writes; two buffers take turns so reading goes on while
 * the last one is written.
 */
async function copyChunksTo(chunks: AsyncIterable<Uint8Array>, fd: number): Promise<void> {
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
  for await (const c of chunks) {
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
}

export async function openInput(name: string, opts: OpenOptions = {}): Promise<ArchiveInput> {
  const label = name === '-' ? 'stdin' : name
  const src = await openSource(name, label, opts)
  const { head, rest } = await peekHead(src, label)

  const detected = detectCompression(head)
  if (detected === 'bzip2' || detected === 'xz') {
    await src.file?.close()
    const e = new VmaError(
      'VMA_UNSUPPORTED_COMPRESSION',
      0,
      `${detected}-compressed input is not supported; decompress it first (for example: ${detected === 'bzip2' ? 'bzcat' : 'xzcat'} FILE | vma-opt ... -)`,
      'input',
    )
    e.file = label // named once, by whoever reports it
    throw e
  }
  const compression: Compression = detected === 'unknown' ? 'none' : detected
  // A plain file in large reads; a compressed one in smaller (each of its bytes stands for several).
  const raw = () => rawBytes(src, head, rest, label, compression === 'none' ? READ_CHUNK : RAW_CHUNK)

  // How the plain stream is made: an external program (reading the file
  // itself when it can), zlib, libzstd, fzstd, or nothing.
  let tool: ReturnType<typeof decoderTool>
  let zstd: ZstdDecoder | undefined
  let asked: ZstdDecoder | undefined
  try {
    asked = zstdDecoderAsked(opts) // checked whatever the input, as spec/cli.md says
    zstd = compression === 'zstd' ? zstdDecoder(opts, asked, head) : undefined
    tool = decoderTool(compression, zstd, label)
  } catch (e) {
    await src.file?.close()
    throw e
  }
  const fileFd = src.file && !rest && src.pipeFd === undefined ? src.file.fd : undefined
  let decoder = 'none'
  let chunks: () => AsyncGenerator<Uint8Array>
  if (tool) {
    decoder = tool.path
    chunks = () => runDecoder(tool.path, tool.args, fileFd, fileFd === undefined ? raw() : undefined, label)
  } else if (compression === 'gzip') {
    decoder = 'zlib'
    chunks = () => gunzip(raw(), label)
  } else if (zstd === 'library') {
    decoder = 'libzstd'
    chunks = () => libzstdDecode(raw(), label)
  } else if (compression === 'zstd') {
    decoder = 'fzstd'
    chunks = () => fzstd(raw(), label)
  } else chunks = raw

  return {
    name,
    label,
    compression,
    decoder,
    file: compression === 'none' && src.file?.seekable ? src.file : undefined,
    chunks,
    async writePlainTo(fd: number) {
      // A decompressor writes straight into the file: no pipe to cross,
      // which on some machines costs more than the decompression itself.
      // Only where it dies with us (setpriv): otherwise a SIGKILLed vma-opt
      // would leave it filling the spool; through a pipe it dies of SIGPIPE.
      // That holds for zstd too when libzstd is the decoder by default: a
      // file is written fastest by the program (80 small disks spooled:
      // 0.5 s, from libzstd through our writes 1.0-1.7 s, alternated).
      const program = zstd === 'library' && !asked ? findTool('zstd') : undefined
      const writer = tool ?? (program ? { path: program, args: ZSTD_DECODE_ARGS } : undefined)
      if (writer && childrenDieWithUs()) await runDecoderTo(writer.path, writer.args, fileFd, fileFd === undefined ? raw() : undefined, fd, label)
      else await copyChunksTo(chunks(), fd)
    },
    close: async () => {
      await src.file?.close()
      if (src.stream && src.stream !== process.stdin) src.stream.destroy()
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
