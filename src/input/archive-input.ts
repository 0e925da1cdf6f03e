// Opens what the user named (a path or "-" for stdin), finds the compression
// from the first bytes, and yields the plain VMA stream. A plain regular file
// also offers positional reads, so commands can skip data or read it out of
// order without spooling.

import { spawn, type ChildProcess } from 'node:child_process'
import { fstatSync } from 'node:fs'
import { once } from 'node:events'
import type { Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { Decompress } from 'fzstd'
import { VmaError, fromSystemError } from '../errors.js'
import { DETECT_BYTES, detectCompression, type Compression } from './detect.js'
import { findTool, requireTool } from './find-tool.js'
import { PositionalFile } from './positional-file.js'

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
  close(): Promise<void>
}

export async function openInput(name: string, opts: OpenOptions = {}): Promise<ArchiveInput> {
  const label = name === '-' ? 'stdin' : name
  let file: PositionalFile | undefined
  let stream: Readable | undefined
  if (name === '-') {
    const st = opts.stdin ? undefined : safeFstat(0)
    if (st?.isFile()) file = PositionalFile.fromFd(0, st, label)
    else stream = opts.stdin ?? process.stdin
  } else {
    file = await PositionalFile.open(name, label)
    if (!file.seekable) {
      // A FIFO or character device: read it as a stream.
      stream = (await import('node:fs')).createReadStream('', { fd: file.fd, autoClose: false, highWaterMark: 1 << 20 })
    }
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
    yield* readFile(file!)
  }

  let decoder = 'none'
  let chunks: () => AsyncGenerator<Uint8Array>
  if (compression === 'none') {
    chunks = raw
  } else if (compression === 'gzip') {
    decoder = 'zlib'
    chunks = () => gunzip(raw(), label)
  } else {
    const tool = compression === 'zstd' ? (opts.forceFzstd ? undefined : findTool('zstd')) : requireTool('lzop', `reading the lzop-compressed ${label}`)
    if (tool) {
      decoder = tool
      const args = compression === 'zstd' ? ['-d', '-c', '-q'] : ['-d', '-c', '-q']
      const fd = file && !rest ? file.fd : undefined
      chunks = () => runDecoder(tool, args, fd, fd === undefined ? raw() : undefined, label)
    } else {
      decoder = 'fzstd'
      chunks = () => fzstd(raw(), label)
    }
  }

  return {
    name,
    label,
    compression,
    decoder,
    file: compression === 'none' && file?.seekable ? file : undefined,
    chunks,
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

/** Sequential reads with two buffers, so the next read runs while the caller works. */
async function* readFile(file: PositionalFile): AsyncGenerator<Uint8Array> {
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
  const out: Uint8Array[] = []
  const d = new Decompress(chunk => {
    out.push(chunk)
  })
  try {
    for await (const c of src) {
      d.push(c)
      while (out.length) yield out.shift()!
    }
    d.push(new Uint8Array(0), true)
    while (out.length) yield out.shift()!
  } catch (e) {
    if (e instanceof VmaError) throw e
    throw new VmaError('VMA_COMPRESSION_CORRUPT', -1, `zstd data is corrupt: ${(e as Error).message}`, label)
  }
}

/**
 * Runs an external decompressor. Its stdin is the file itself when we have a
 * descriptor, or our pump of `feed` otherwise. A non-zero exit is corruption.
 */
async function* runDecoder(
  tool: string,
  args: string[],
  fd: number | undefined,
  feed: AsyncGenerator<Uint8Array> | undefined,
  label: string,
): AsyncGenerator<Uint8Array> {
  const child: ChildProcess = spawn(tool, args, { stdio: [fd ?? 'pipe', 'pipe', 'pipe'] })
  const toolName = tool.split('/').pop()
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString()
  })
  const exited = new Promise<number | null>(resolve => {
    child.on('close', code => resolve(code))
    child.on('error', () => resolve(-1))
  })
  let feedError: unknown
  const pump = feed
    ? (async () => {
        const sin = child.stdin!
        sin.on('error', () => undefined) // EPIPE when the decoder stops early
        try {
          for await (const c of feed) {
            if (sin.destroyed) break
            if (!sin.write(c)) await Promise.race([once(sin, 'drain'), once(sin, 'close')])
          }
        } catch (e) {
          feedError = e
        }
        sin.end()
      })()
    : Promise.resolve()
  let finished = false
  try {
    for await (const out of child.stdout!) yield out as Uint8Array
    finished = true
  } finally {
    if (!finished) {
      child.kill('SIGTERM')
      feed?.return(undefined).catch(() => undefined)
    }
    await pump
  }
  const code = await exited
  if (feedError) throw feedError
  if (code !== 0) {
    const why = stderr.trim().split('\n').pop() || `exit status ${code}`
    throw new VmaError('VMA_COMPRESSION_CORRUPT', -1, `${toolName} failed: ${why.replace(/^zstd: |^lzop: /, '')}`, label)
  }
}
