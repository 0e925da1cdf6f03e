// Walks a zstd stream's frame structure (RFC 8878) without decoding it, so
// that each frame can be handed to fzstd on its own and its content checksum
// (the low 32 bits of XXH64 of the frame's output) checked: fzstd does not
// check it, and a flipped byte in a stored (raw) block would otherwise come
// out as silently wrong data. Skippable frames are dropped.

import { VmaError } from '../util/errors.js'
import { inFile, truncated, zstdCorrupt } from './in-file.js'

const enum S {
  Magic,
  FrameHeader,
  BlockHeader,
  BlockBody,
  Checksum,
  SkipSize,
  SkipBody,
}

export interface FrameSink {
  /** Bytes of the current frame, from its magic number on. */
  frameBytes(b: Uint8Array): void
  /** The frame is complete; `checksum` is its stored content checksum, if it has one. */
  frameEnd(checksum: number | undefined): void
}

export class ZstdFrameSplitter {
  private state = S.Magic
  private buf = Buffer.alloc(18) // the largest fixed piece: a frame header (at most 14) or a magic
  private have = 0
  private need = 4
  private left = 0
  private last = false
  private hasChecksum = false
  /** Offset in the compressed stream, for messages. */
  position = 0

  constructor(
    private readonly sink: FrameSink,
    private readonly label: string,
  ) {}

  private fail(what: string): never {
    throw inFile(new VmaError('VMA_COMPRESSION_CORRUPT', -1, zstdCorrupt(false, `at compressed offset ${this.position}: ${what}`)), this.label)
  }

  write(chunk: Uint8Array): void {
    let pos = 0
    while (pos < chunk.length) {
      if (this.state === S.BlockBody || this.state === S.SkipBody) {
        const take = Math.min(this.left, chunk.length - pos)
        if (this.state === S.BlockBody) this.sink.frameBytes(chunk.subarray(pos, pos + take))
        pos += take
        this.position += take
        this.left -= take
        if (this.left === 0) this.afterBody()
        continue
      }
      const take = Math.min(this.need - this.have, chunk.length - pos)
      this.buf.set(chunk.subarray(pos, pos + take), this.have)
      this.have += take
      pos += take
      this.position += take
      if (this.have === this.need) this.piece()
    }
  }

  end(): void {
    if (this.state !== S.Magic || this.have !== 0) throw inFile(new VmaError('VMA_COMPRESSION_CORRUPT', -1, truncated(this.position)), this.label)
  }

  private expect(state: S, n: number): void {
    this.state = state
    this.need = n
    this.have = 0
  }

  private piece(): void {
    const b = this.buf
    switch (this.state) {
      case S.Magic: {
        const magic = b.readUInt32LE(0)
        if (magic === 0xfd2fb528) {
          this.sink.frameBytes(b.subarray(0, 4))
          this.expect(S.FrameHeader, 1)
        } else if ((magic & 0xfffffff0) === 0x184d2a50) this.expect(S.SkipSize, 4)
        else this.fail(`unknown frame magic ${magic.toString(16)}`)
        return
      }
      case S.FrameHeader: {
        if (this.need === 1) {
          // Frame header descriptor: how long the rest of the header is.
          const fhd = b[0]!
          if (fhd & 0x08) this.fail('reserved bit set in the frame header')
          this.hasChecksum = (fhd & 0x04) !== 0
          const f = headerFields(fhd)
          const rest = f.window + f.dictId + f.contentSize
          this.need = 1 + rest
          if (rest > 0) return
        }
        this.sink.frameBytes(b.subarray(0, this.need))
        this.expect(S.BlockHeader, 3)
        return
      }
      case S.BlockHeader: {
        this.sink.frameBytes(b.subarray(0, 3))
        const h = b[0]! | (b[1]! << 8) | (b[2]! << 16)
        this.last = (h & 1) === 1
        const type = (h >> 1) & 3
        const size = h >>> 3
        if (type === 3) this.fail('reserved block type')
        this.left = type === 1 ? 1 : size // an RLE block stores one byte
        this.state = S.BlockBody
        if (this.left === 0) this.afterBody()
        return
      }
      case S.Checksum:
        this.sink.frameBytes(b.subarray(0, 4))
        this.sink.frameEnd(b.readUInt32LE(0))
        this.expect(S.Magic, 4)
        return
      case S.SkipSize:
        this.left = b.readUInt32LE(0)
        this.state = S.SkipBody
        if (this.left === 0) this.afterBody()
        return
      default:
        return
    }
  }

  private afterBody(): void {
    if (this.state === S.SkipBody) return this.expect(S.Magic, 4)
    if (!this.last) return this.expect(S.BlockHeader, 3)
    if (this.hasChecksum) return this.expect(S.Checksum, 4)
    this.sink.frameEnd(undefined)
    this.expect(S.Magic, 4)
  }
}

/**
 * The window the first frame of a zstd stream asks its decoder for, from
 * its header (RFC 8878, 3.1.1.1): the Window_Descriptor, or for a
 * single-segment frame its content size. Undefined where `head` does not
 * start with a whole frame header (a skippable frame first, too short).
 */
export function firstFrameWindow(head: Uint8Array): number | undefined {
  if (head.length < 6 || head[0] !== 0x28 || head[1] !== 0xb5 || head[2] !== 0x2f || head[3] !== 0xfd) return undefined
  const f = headerFields(head[4]!)
  if (f.window) {
    const exponent = head[5]! >> 3
    const mantissa = head[5]! & 7
    const base = 2 ** (10 + exponent)
    return base + (base / 8) * mantissa
  }
  // Single segment: no Window_Descriptor; the window is the content size.
  const at = 5 + f.dictId
  if (head.length < at + f.contentSize) return undefined
  let v = 0
  for (let i = f.contentSize - 1; i >= 0; i--) v = v * 256 + head[at + i]!
  return f.contentSize === 2 ? v + 256 : v
}

/** Bytes of the frame header's fields after its descriptor `fhd`, in order (RFC 8878, 3.1.1.1.1). */
function headerFields(fhd: number): { window: number; dictId: number; contentSize: number } {
  const single = (fhd & 0x20) !== 0
  return { window: single ? 0 : 1, dictId: [0, 1, 2, 4][fhd & 3]!, contentSize: [single ? 1 : 0, 2, 4, 8][fhd >> 6]! }
}
