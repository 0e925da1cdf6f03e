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
/** How far past a block's own offset the index must reach before a block found nowhere is written. */
const LOOKAHEAD = 64 << 20

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
  /** The same range of the first source as the write at hand (grown to the largest write). */
  private near = Buffer.allocUnsafe(0)
  private constructor(
    private readonly out: PositionedSink,
    private readonly index: ShareSource,
    private readonly indexed: Promise<unknown>,
    private readonly sources: FileHandle[],
    private readonly firstSize: number,
    private readonly tool: DedupeTool,
  ) {}

  /** `files`: the archives to share with; `index`: their blocks by content, filled while this writes until `indexed` settles. */
  static async start(out: PositionedSink, temp: string, files: string[], index: ShareSource, indexed: Promise<unknown>, xfsIo: string): Promise<CloneSink> {
    const handles: FileHandle[] = []
    try {
      for (const f of files) handles.push(await open(f, 'r'))
      const firstSize = (await handles[0]!.stat()).size
      return new CloneSink(out, index, indexed, handles, firstSize, DedupeTool.start(xfsIo, temp, files, 'reflink'))
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
    // Nothing asked is nothing refused: an archive with no block in common shares nothing, and says no more.
    const refused = !!r.failed || r.shared !== this.cloned
    try {
      if (refused) {
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
    return { cloned: this.cloned, ...(refused ? { why: `the filesystem refused to clone (${r.failed ?? 'fewer bytes cloned than asked'})` } : {}) }
  }

  async abort(): Promise<void> {
    await this.chain.catch(() => undefined)
    await this.tool.abort()
    await this.close()
  }

  private async close(): Promise<void> {
    for (const h of this.sources.splice(0)) await h.close()
  }

  /**
   * Writes `buf` (at file offset `at`) except the runs of blocks found equal
   * in a source, which are cloned. A block is first compared with the block
   * at the same offset of the first source, read once per write (most blocks
   * of a night's backup sit where they sat the night before, and this needs
   * no index); else, once the index of the sources is built, looked up by
   * its hash and compared with what it found.
   */
  private async place(data: Uint8Array, at: number): Promise<void> {
    const buf = Buffer.from(data.buffer, data.byteOffset, data.length)
    const words = new Int32Array(buf.buffer, buf.byteOffset, buf.byteOffset % 4 === 0 ? buf.length >> 2 : 0)
    // Blocks inside buf that sit at aligned file offsets (buf's start in the file is not aligned in general).
    const first = (BLOCK - (at % BLOCK)) % BLOCK
    const near = this.near.length >= buf.length ? this.near : (this.near = Buffer.allocUnsafe(buf.length))
    const same = at < this.firstSize ? (await this.sources[0]!.read(near, 0, Math.min(buf.length, this.firstSize - at), at)).bytesRead : 0
    let written = 0 // bytes of buf handed to the file so far
    let run: { src: number; srcAt: number; from: number; len: number; compared: boolean } | undefined
    const flush = async () => {
      if (!run) return
      const r = run
      run = undefined
      if (!r.compared && !(await this.equal(r.src, r.srcAt, buf, r.from, r.len))) return // a hash collision, or a source that changed: written below
      if (r.from > written) await this.put(buf.subarray(written, r.from), at + written)
      this.tool.range(r.src, r.srcAt, at + r.from, r.len)
      this.tool.willNeed(at + r.from, r.len)
      this.clones.push(r.src, r.srcAt, at + r.from, r.len)
      this.cloned += r.len
      written = r.from + r.len
    }
    const extend = async (src: number, srcAt: number, b: number, compared: boolean) => {
      if (run && src === run.src && srcAt === run.srcAt + run.len && b === run.from + run.len && compared === run.compared && run.len < MAX_RANGE) run.len += BLOCK
      else {
        await flush()
        run = { src, srcAt, from: b, len: BLOCK, compared }
      }
    }
    for (let b = first; b + BLOCK <= buf.length; b += BLOCK) {
      if (b + BLOCK <= same && buf.compare(near, b, b + BLOCK, b, b + BLOCK) === 0) {
        await extend(0, at + b, b, true)
        continue
      }
      // Hashing reads 32-bit words: a buffer not on a 4-byte boundary (never the case here) is looked up by place only.
      if (!words.length) {
        await flush()
        continue
      }
      this.hasher.hash(words, b >> 2)
      let slot = this.index.find(this.hasher.lo, this.hasher.hi)
      if (slot < 0) {
        // Not indexed (yet): a block moved by a few extents lies near its old place; wait until the index has passed it.
        await this.index.covered(0, at + b + LOOKAHEAD, this.indexed)
        slot = this.index.find(this.hasher.lo, this.hasher.hi)
      }
      if (slot < 0) await flush()
      else await extend(this.index.fileAt(slot), this.index.offsetAt(slot), b, false)
    }
    await flush()
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
