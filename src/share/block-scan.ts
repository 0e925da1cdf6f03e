// Reads a file front to back in large reused buffers (one read ahead while
// the other is hashed) and hands over each whole 4 KiB block at a multiple of
// 4 KiB: the only blocks a filesystem can share. A partial last block is not
// handed over.

import { open } from 'node:fs/promises'
import { BLOCK_WORDS } from './block-hash.js'

const CHUNK = 4 << 20
const BLOCK = BLOCK_WORDS * 4

/**
 * Calls `each(words, at, offset)` for every whole 4 KiB block
 * (`words[at..at+1023]` is its content), and awaits `afterChunk` after each
 * 4 MiB (a consumer's back-pressure).
 */
export async function scanBlocks(path: string, each: (words: Int32Array, at: number, offset: number) => void, afterChunk?: () => Promise<void>): Promise<void> {
  const fh = await open(path, 'r')
  try {
    const size = (await fh.stat()).size
    const end = size - (size % BLOCK)
    const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)]
    const words = bufs.map(b => new Int32Array(b.buffer, b.byteOffset, CHUNK / 4))
    const readAt = (k: number, pos: number) => fh.read(bufs[k]!, 0, Math.min(CHUNK, end - pos), pos)
    let next = end > 0 ? readAt(0, 0) : undefined
    for (let pos = 0, k = 0; next; pos += CHUNK, k ^= 1) {
      const { bytesRead } = await next
      // A short read: the file shrank meanwhile; stop at what is there.
      const full = bytesRead === Math.min(CHUNK, end - pos)
      next = full && pos + CHUNK < end ? readAt(k ^ 1, pos + CHUNK) : undefined
      const w = words[k]!
      const blocks = Math.floor(bytesRead / BLOCK)
      for (let b = 0; b < blocks; b++) each(w, b * BLOCK_WORDS, pos + b * BLOCK)
      await afterChunk?.()
    }
  } finally {
    await fh.close()
  }
}
