// The decompressors behind an ArchiveInput: zlib for gzip, fzstd (with our
// own per-frame checksum check) for zstd when the zstd program is missing,
// and external programs (zstd, lzop) whose output comes back through a pipe
// or goes straight into a file. Every one of them turns corruption or
// truncation into VMA_COMPRESSION_CORRUPT.

import type { ChildProcess } from 'node:child_process'
import { createGunzip } from 'node:zlib'
import { Decompress } from 'fzstd'
import { VmaError } from '../util/errors.js'
import { loadHasher } from '../util/hasher.js'
import { spawnGuarded } from '../util/spawn-guarded.js'
import { ZstdFrameSplitter } from './zstd-frames.js'
import { CHECKSUM_MISMATCH, ENDS_EARLY, inFile, truncated, zstdCorrupt } from './in-file.js'
import { YoungGarbage } from '../util/young-garbage.js'
import { childOutput } from './child-output.js'

export async function* gunzip(src: AsyncGenerator<Uint8Array>, label: string): AsyncGenerator<Uint8Array> {
  const z = createGunzip({ chunkSize: 1 << 20 })
  let failure: Error | undefined
  z.on('error', e => (failure = e))
  const pump = (async () => {
    try {
      for await (const c of src) {
        if (failure) break
        // Wait until zlib has taken the chunk (its buffer is reused for the next
        // read), or has failed: a failed stream may never call back.
        await new Promise<void>(resolve => {
          const done = () => {
            z.off('close', done)
            resolve()
          }
          z.once('close', done)
          z.write(c, done)
        })
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
    throw inFile(new VmaError('VMA_COMPRESSION_CORRUPT', -1, ENDS_EARLY.test(failure.message) ? truncated() : `gzip data is corrupt: ${failure.message}`), label)
  }
}

/**
 * Compressed bytes handed to fzstd at once. fzstd decodes every complete
 * block of what it is given before returning, and a block can be 4 bytes
 * that stand for 128 KiB (an RLE block: a constant disk compresses ~30000:1),
 * so this bounds the output of one push to about 4 MiB; the output is
 * passed on before the next piece goes in.
 */
export const FZSTD_PIECE = 32
const TURN_BYTES = 1 << 20

/** fzstd's output between two minor collections (see util/young-garbage). */
const FZSTD_COLLECT_BYTES = 4 << 20

export async function* fzstd(src: AsyncGenerator<Uint8Array>, label: string): AsyncGenerator<Uint8Array> {
  // Each frame gets its own decoder, and its output is hashed to check the
  // frame's content checksum, which fzstd itself does not verify.
  const xx = await loadHasher()
  const out: Uint8Array[] = []
  let dec: Decompress | undefined
  let hash: ReturnType<typeof xx.create64> | undefined
  // What the splitter found in the last chunk, worked off piece by piece below.
  const todo: ({ bytes: Uint8Array } | { end: number | undefined })[] = []
  let sinceTurn = 0
  // fzstd allocates a fresh array for every block it decodes (128 KiB).
  const garbage = new YoungGarbage(FZSTD_COLLECT_BYTES)
  // A frame's bytes come block by block: they are joined into one copy per
  // chunk (fzstd may keep what it is given, and both the splitter's and the
  // reader's buffers are reused), not one small buffer per block.
  let parts: Uint8Array[] = []
  const flush = () => {
    if (parts.length) todo.push({ bytes: Buffer.concat(parts) })
    parts = []
  }
  const splitter = new ZstdFrameSplitter(
    {
      // Headers come from the splitter's own small buffer, reused at once: copied.
      frameBytes: b => parts.push(b.length <= 18 ? Uint8Array.prototype.slice.call(b) : b),
      frameEnd: checksum => {
        flush()
        todo.push({ end: checksum })
      },
    },
    label,
  )
  const startFrame = () => {
    hash = xx.create64(0n)
    return new Decompress(chunk => {
      hash!.update(chunk)
      out.push(chunk)
    })
  }
  const endFrame = (checksum: number | undefined) => {
    dec!.push(new Uint8Array(0), true)
    const actual = Number(hash!.digest() & 0xffffffffn)
    dec = undefined
    if (checksum !== undefined && checksum !== actual) {
      throw inFile(new VmaError('VMA_COMPRESSION_CORRUPT', -1, zstdCorrupt(true, `fzstd: computed ${actual.toString(16)}, stored ${checksum.toString(16)}`)), label)
    }
  }
  try {
    const work = async function* () {
      for (let job = todo.shift(); job; job = todo.shift()) {
        if ('end' in job) {
          endFrame(job.end)
          while (out.length) yield out.shift()!
          continue
        }
        dec ??= startFrame()
        for (let i = 0; i < job.bytes.length; i += FZSTD_PIECE) {
          dec.push(job.bytes.subarray(i, i + FZSTD_PIECE))
          while (out.length) {
            const o = out.shift()!
            sinceTurn += o.length
            yield o
          }
          // GiBs can come out of one read without the event loop ever turning,
          // and V8 runs its garbage collection tasks there: give it a turn.
          if (sinceTurn >= TURN_BYTES) {
            sinceTurn = 0
            garbage.add(TURN_BYTES)
            await new Promise(resolve => setImmediate(resolve))
          }
        }
      }
    }
    for await (const c of src) {
      splitter.write(c)
      flush()
      yield* work()
    }
    splitter.end()
    flush()
    yield* work()
  } catch (e) {
    if (e instanceof VmaError) throw e
    throw inFile(new VmaError('VMA_COMPRESSION_CORRUPT', -1, zstdCorrupt(false, `fzstd: ${(e as Error).message}`)), label)
  }
}

/** A decompressor's last stderr line in our words, without the name of its input (it only sees <stdin>). */
export function decoderFailure(tool: string, why: string): string {
  const detail = why
    .replace(/^(zstd|lzop): /, '')
    .replace(/^\/\*stdin\*\\ ?: |<stdin>: |: <stdin>$/g, '')
    .trim()
  if (ENDS_EARLY.test(detail)) return truncated()
  // "Use --long=31 or --memory=...": a window over what the program allows, no damage.
  if (tool === 'zstd' && !/--long|--memory/.test(detail)) return zstdCorrupt(CHECKSUM_MISMATCH.test(detail), `zstd: ${detail}`)
  if (tool === 'lzop') {
    // lzop words a truncated pipe as the errno of its last ioctl ("Inappropriate ioctl for device").
    const useful = detail && !/inappropriate ioctl/i.test(detail)
    return `truncated or damaged lzop stream${useful ? ` (lzop: ${detail})` : ''}`
  }
  return `${tool} failed: ${detail}`
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
    this.child = spawnGuarded(tool, args, { stdio: [inFd ?? 'pipe', out, 'pipe'] })
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

  /**
   * Stops it early (the reader lost interest). SIGKILL, not SIGTERM: its
   * output goes only to us, so it has nothing to clean up, and a decompressor
   * that handles or ignores SIGTERM must not outlive our interest.
   */
  async stop(): Promise<void> {
    this.child.kill('SIGKILL')
    this.feed?.return(undefined).catch(() => undefined)
    await this.pump
  }

  async finish(): Promise<void> {
    await this.pump
    const code = await this.exited
    if (this.feedError) throw this.feedError
    if (code !== 0) {
      const why = this.stderr.trim().split('\n').pop() || `exit status ${code}`
      const name = this.tool.split('/').pop()!
      const nospace = /no space/i.test(why)
      throw inFile(new VmaError(nospace ? 'VMA_NO_SPACE' : 'VMA_COMPRESSION_CORRUPT', -1, nospace ? `${name} failed: ${why}` : decoderFailure(name, why)), this.label)
    }
  }
}

/** The decompressor's output, as a stream of chunks. */
export async function* runDecoder(tool: string, args: string[], fd: number | undefined, feed: AsyncGenerator<Uint8Array> | undefined, label: string): AsyncGenerator<Uint8Array> {
  const d = new Decoder(tool, args, fd, 'pipe', feed, label)
  let finished = false
  try {
    yield* childOutput(d.child.stdout!)
    finished = true
  } finally {
    if (!finished) await d.stop()
  }
  await d.finish()
}

/** Runs a decompressor whose output goes straight into `outFd`. */
export async function runDecoderTo(tool: string, args: string[], inFd: number | undefined, feed: AsyncGenerator<Uint8Array> | undefined, outFd: number, label: string): Promise<void> {
  await new Decoder(tool, args, inFd, outFd, feed, label).finish()
}
