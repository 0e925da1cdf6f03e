// The blob buffer holds config names, config contents and device names, each
// as a u16 little-endian length followed by that many bytes. Offset 0 is an
// unused byte, so a pointer of 0 means "none". Pointers name the length prefix.

import { VmaError } from '../util/errors.js'

export interface Blob {
  /** Offset of the blob's data (after the length) within the blob buffer. */
  start: number
  length: number
}

/**
 * The blobs a reader can find: the chain that starts at offset 1 and jumps
 * from one length prefix to the next. A pointer is valid only if it hits one
 * of these starts exactly (this is how Proxmox's reader resolves pointers).
 */
export class BlobTable {
  readonly buf: Uint8Array
  private readonly starts = new Map<number, Blob>()

  constructor(buf: Uint8Array) {
    this.buf = buf
    let pos = 1
    while (pos + 2 <= buf.length) {
      const len = buf[pos]! | (buf[pos + 1]! << 8)
      if (pos + 2 + len > buf.length) break
      this.starts.set(pos, { start: pos + 2, length: len })
      pos += 2 + len
    }
  }

  get(ptr: number): Blob | undefined {
    return ptr === 0 ? undefined : this.starts.get(ptr)
  }

  data(ptr: number): Buffer | undefined {
    const b = this.get(ptr)
    return b && Buffer.from(this.buf.buffer, this.buf.byteOffset + b.start, b.length)
  }

  /**
   * A NUL-terminated string blob. Undefined if the pointer misses the chain,
   * the blob is empty or its last byte is not NUL (Proxmox's rule).
   */
  string(ptr: number): string | undefined {
    const d = this.data(ptr)
    if (!d || d.length === 0 || d[d.length - 1] !== 0) return undefined
    return d.subarray(0, d.length - 1).toString('utf8')
  }
}

/** Packs blobs back to back from offset 1, as Proxmox's writer does. */
export class BlobWriter {
  private readonly parts: Buffer[] = [Buffer.alloc(1)]
  private size = 1

  /** Adds a blob and returns its pointer (the offset of its length prefix). */
  add(data: Uint8Array): number {
    if (data.length > 0xffff) {
      throw new VmaError('VMA_BLOB_SIZE', -1, `a blob of ${data.length} bytes does not fit the 16-bit length (max 65535)`)
    }
    const ptr = this.size
    const len = Buffer.alloc(2)
    len.writeUInt16LE(data.length, 0)
    this.parts.push(len, Buffer.from(data.buffer, data.byteOffset, data.length))
    this.size += 2 + data.length
    return ptr
  }

  addString(s: string): number {
    return this.add(Buffer.concat([Buffer.from(s, 'utf8'), Buffer.alloc(1)]))
  }

  get length(): number {
    return this.size
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts, this.size)
  }
}
