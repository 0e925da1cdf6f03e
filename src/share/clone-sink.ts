// Block sharing while the archive is written (optimize --share-with): the
// writer's bytes pass through here on their way to the temp file. Each whole
// 4 KiB block at an aligned offset is hashed and looked up in the index of
// the archives to share with; a run of blocks found there is read back from
// that archive and compared byte for byte, and when equal it is not written
// but cloned from there (FICLONERANGE, xfs_io's `reflink`). What is written
// and what is cloned are the same bytes optimize --align writes; the
// read-back proof reads the final file as always. Compared with writing
// everything and then asking the kernel to compare and share it
// (FIDEDUPERANGE), this saves writing the unchanged blocks, the fsync that
// had to come first, reading the new file back to hash it, and the kernel's
// own comparison; on btrfs the written extents hold only new data, so
// nothing needs writing twice.

import { open, type FileHandle } from 'node:fs/promises'
import { BLOCK_WORDS, BlockHasher } from './block-hash.js'
import type { ShareSource } from './share-blocks.js'
import { DedupeTool } from './dedupe-tool.js'

const BLOCK = BLOCK_WORDS * 4
/** btrfs clones at most 16 MiB per call; XFS takes more, but runs rarely get that long inside one write. */
const MAX_RANGE = 16 << 20

/** The file being written: its OutputFile (write at bytesIn) as far as this needs it. */
export interface PositionedSink {
  bytesIn: number
  write(buf: Uint8Array): Promise<void>
}

export class CloneSink {
  /** Bytes cloned instead of written. */
  cloned = 0
  /** Every clone asked for: source, its offset, offset in the file, length (so that a refused one can be written instead). */
  private readonly clones: number[] = []
  private pos = 0
  private chain: Promise<void> = Promise.resolve()
  private readonly hasher = new BlockHasher()
  private readonly cmp = Buffer.allocUnsafe(MAX_RANGE)

  private constructor(
    private readonly out: PositionedSink,
    private readonly source: ShareSource,
    private readonly sources: FileHandle[],
    private readonly tool: DedupeTool,
  ) {}

  static async start(out: PositionedSink, temp: string, source: ShareSource, xfsIo: string): Promise<CloneSink> {
    const handles: FileHandle[] = []
    try {
      for (const f of source.files) handles.push(await open(f, 'r'))
      return new CloneSink(out, source, handles, DedupeTool.start(xfsIo, temp, source.files, 'reflink'))
    } catch (e) {
      for (const h of handles) await h.close()
      throw e
    }
  }

  /** Same contract as OutputFile.write: in call order, each write at its place; `buf` may be reused once this resolves. */
  write(buf: Uint8Array): Promise<void> {
    const at = this.pos
    this.pos += buf.length
    const p = this.chain.then(() => this.place(buf, at))
    this.chain = p.catch(() => undefined)
    return p
  }

  /**
   * Waits for every write and clone; the file then holds every byte. Returns
   * the bytes cloned and, when the filesystem refused to clone, why: the
   * ranges are then written (the same bytes, read from the source again).
   */
  async finish(): Promise<{ cloned: number; why?: string }> {
    await this.chain
    const r = await this.tool.finish()
    try {
      if (r.failed || r.shared !== this.cloned) {
        for (let i = 0; i < this.clones.length; i += 4) {
          const [src, srcAt, at, len] = [this.clones[i]!, this.clones[i + 1]!, this.clones[i + 2]!, this.clones[i + 3]!]
          const { bytesRead } = await this.sources[src]!.read(this.cmp, 0, len, srcAt)
          await this.put(this.cmp.subarray(0, bytesRead), at)
        }
        this.cloned = 0
      }
    } finally {
      await this.close()
    }
    this.out.bytesIn = this.pos
    return { cloned: this.cloned, ...(r.failed || this.cloned === 0 ? { why: `the filesystem refused to clone (${r.failed ?? 'fewer bytes cloned than asked'})` } : {}) }
  }

  async abort(): Promise<void> {
    await this.chain.catch(() => undefined)
    await this.tool.abort()
    await this.close()
  }

  private async close(): Promise<void> {
    for (const h of this.sources.splice(0)) await h.close()
  }

  /** Writes `buf` (at file offset `at`) except the runs of blocks found equal in a source, which are cloned. */
  private async place(buf: Uint8Array, at: number): Promise<void> {
    const words = new Int32Array(buf.buffer, buf.byteOffset, buf.byteOffset % 4 === 0 ? buf.length >> 2 : 0)
    // Blocks inside buf that sit at aligned file offsets (buf's start in the file is not aligned in general).
    const first = (BLOCK - (at % BLOCK)) % BLOCK
    let written = 0 // bytes of buf handed to the file so far
    let run: { src: number; srcAt: number; from: number; len: number } | undefined
    const flush = async () => {
      if (!run) return
      const r = run
      run = undefined
      if (!(await this.equal(r.src, r.srcAt, buf, r.from, r.len))) return // a hash collision, or a source that changed: written below
      if (r.from > written) await this.put(buf.subarray(written, r.from), at + written)
      this.tool.range(r.src, r.srcAt, at + r.from, r.len)
      this.tool.willNeed(at + r.from, r.len)
      this.clones.push(r.src, r.srcAt, at + r.from, r.len)
      this.cloned += r.len
      written = r.from + r.len
    }
    // Hashing reads 32-bit words: a buffer not on a 4-byte boundary (never the case here) is written as is.
    if (words.length) {
      for (let b = first; b + BLOCK <= buf.length; b += BLOCK) {
        if ((buf.byteOffset + b) % 4 !== 0) break
        this.hasher.hash(words, b >> 2)
        const slot = this.source.find(this.hasher.lo, this.hasher.hi)
        if (slot < 0) {
          await flush()
          continue
        }
        const file = this.source.fileAt(slot)
        const offset = this.source.offsetAt(slot)
        if (run && file === run.src && offset === run.srcAt + run.len && b === run.from + run.len && run.len < MAX_RANGE) {
          run.len += BLOCK
          continue
        }
        await flush()
        run = { src: file, srcAt: offset, from: b, len: BLOCK }
      }
      await flush()
    }
    if (written < buf.length) await this.put(buf.subarray(written), at + written)
    await this.tool.flush()
  }

  private put(piece: Uint8Array, at: number): Promise<void> {
    // OutputFile.write writes at bytesIn, read as the call starts: the cloned ranges are skipped over.
    this.out.bytesIn = at
    return this.out.write(piece)
  }

  /** Whether `len` bytes of source `src` at `srcAt` equal buf[from, from + len). */
  private async equal(src: number, srcAt: number, buf: Uint8Array, from: number, len: number): Promise<boolean> {
    const { bytesRead } = await this.sources[src]!.read(this.cmp, 0, len, srcAt)
    return bytesRead === len && this.cmp.subarray(0, len).equals(buf.subarray(from, from + len))
  }
}
