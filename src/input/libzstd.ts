// zstd decoded in this process by libzstd (util/libzstd), so the plain
// bytes cross no pipe. On the 2-core VM bench/optimize runs on, moving 2.3
// GB through a pipe costs 1-2 s of system time, three times what decoding it
// costs, and a .zst optimize moved the plain stream through up to three
// pipes (the check, a reread, the read-back proof). libzstd checks each
// frame's content checksum, skips skippable frames and decodes concatenated
// frames, as the zstd program does; without the binding, the program is used.

import { libzstd, libzstdMissing, type StreamResult } from '../util/libzstd.js'
import { VmaError } from '../util/errors.js'
import { CHECKSUM_MISMATCH, inFile, truncated, zstdCorrupt } from './in-file.js'

/**
 * The largest window a frame may ask libzstd for here: 2^23 (8 MiB), what
 * `zstd -19` uses; vzdump's zstd (level 3) uses 2^21. The window is what the
 * decoder allocates and the frame header says how large it is, so the bound
 * keeps a file from sizing vma-opt's memory (2^27, the zstd program's own
 * limit, took optimize to 228 MB of RSS). A file whose first frame asks for
 * more is given to the zstd program, which decodes it in its own memory
 * (archive-input); a later frame that does fails with a hint.
 */
export const WINDOW_LOG_MAX = 23

/**
 * Plain bytes per decode call and per chunk yielded: one reused buffer.
 * Not more: a reader that holds clusters for later takes a whole chunk
 * before it can weigh what it holds, and a cluster that stores one 4 KiB
 * block pins a 64 KiB buffer, so a chunk can pin 16 times its size (a pipe
 * gave 64 KiB at a time). 256 KiB costs 9,000 calls per 2.3 GB, nothing.
 */
const OUT_BYTES = 256 << 10
/**
 * Give the event loop a turn (signals, progress, collections) after this much
 * output: a few KiB of input can stand for GiBs of zeros, and optimize
 * takes about 0.5 s for 64 MiB, which Ctrl-C would otherwise wait for.
 */
const TURN_BYTES = 4 << 20

/**
 * The plain stream of the zstd stream `src`. Each chunk is valid only until
 * the next is asked for (one output buffer is reused). Corruption, a bad
 * checksum or a stream that stops inside a frame end in
 * VMA_COMPRESSION_CORRUPT, a window over the bound in
 * VMA_UNSUPPORTED_COMPRESSION, with the compressed offset in the message.
 */
export async function* libzstdDecode(src: AsyncIterable<Uint8Array>, label: string): AsyncGenerator<Uint8Array> {
  const z = libzstd()
  if (!z) throw new Error(`libzstd is not available: ${libzstdMissing()}`)
  const dctx = new z.DCtx()
  dctx.setParameter(z.DParameter.windowLogMax, WINDOW_LOG_MAX)
  const out = Buffer.allocUnsafe(OUT_BYTES)
  let consumed = 0 // compressed bytes taken so far, for messages
  // ZSTD_decompressStream's return at its last progress: 0 once a frame is
  // complete; not 0 before any (an input with nothing to decode is cut short).
  let hint = -1
  let sinceTurn = 0
  for await (const chunk of src) {
    // libzstd counts calls that move nothing and gives up after 16 of them.
    if (chunk.length === 0) continue
    let input = chunk
    // Until the chunk is used up and the decoder has nothing more to flush
    // (a full output buffer may leave output pending without more input).
    for (;;) {
      let r: StreamResult
      try {
        r = dctx.decompressStream(out, input)
      } catch (e) {
        const why = (e as Error).message
        if (/too much memory/i.test(why)) {
          throw inFile(
            new VmaError(
              'VMA_UNSUPPORTED_COMPRESSION',
              -1,
              `a zstd frame near compressed offset ${consumed} needs a window over ${2 ** WINDOW_LOG_MAX / 2 ** 20} MiB, more than vma-opt decodes in its own memory; VMA_OPT_ZSTD_DECODER=program has the zstd program decode it (up to 128 MiB)`,
            ),
            label,
          )
        }
        throw inFile(new VmaError('VMA_COMPRESSION_CORRUPT', -1, zstdCorrupt(CHECKSUM_MISMATCH.test(why), `libzstd near compressed offset ${consumed}: ${why}`)), label)
      }
      // A call that moved nothing says nothing of the stream: after a frame's
      // end, it already asks for the next frame's header (9 bytes).
      if (r[1] > 0 || r[2] > 0) hint = r[0]
      consumed += r[2]
      input = input.subarray(r[2])
      if (r[1] > 0) {
        yield out.subarray(0, r[1])
        sinceTurn += r[1]
        if (sinceTurn >= TURN_BYTES) {
          // A few KiB of input can stand for GiBs of zeros: without a turn,
          // timers and signal handlers would wait for all of it.
          sinceTurn = 0
          await new Promise(resolve => setImmediate(resolve))
        }
      }
      if (input.length === 0 && r[1] < out.length) break
    }
  }
  if (hint !== 0) throw inFile(new VmaError('VMA_COMPRESSION_CORRUPT', -1, truncated(consumed)), label)
}
