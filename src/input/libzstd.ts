// zstd decoded in this process by libzstd (util/libzstd), so the plain
// bytes cross no pipe. On the 2-core VM bench/optimize runs on, moving 2.3 GB through a pipe costs 1-2 s of system time, three times what
// decoding it costs, and a .zst optimize moved the plain stream through up to
// three pipes (the check, a reread, the read-back proof). libzstd checks each
// frame's content checksum, skips skippable frames and decodes concatenated
// frames, as the zstd program does; without the binding, the program is used.

import { libzstd, libzstdMissing, type StreamResult } from '../util/libzstd.js'
import { VmaError } from '../util/errors.js'

/**
 * The largest window a frame may ask for: 2^27 (128 MiB), the limit the zstd
 * program also applies unless told --memory. The window is what the decoder
 * allocates, and the frame header says how large it is: the bound keeps a
 * hostile file from sizing our memory. vzdump's zstd (level 3) uses 2^21.
 */
export const WINDOW_LOG_MAX = 27

/**
 * Plain bytes per decode call and per chunk yielded: one reused buffer.
 * Not more: a reader that holds clusters for later takes a whole chunk
 * before it can weigh what it holds, and a cluster that stores one 4 KiB
 * block pins a 64 KiB buffer, so a chunk can pin 16 times its size (a pipe
 * gave 64 KiB at a time). 256 KiB costs 9,000 calls per 2.3 GB, nothing.
 */
const OUT_BYTES = 256 << 10
/** Give the event loop a turn (signals, progress, collections) after this much output from one input chunk. */
const TURN_BYTES = 64 << 20

/**
 * The plain stream of the zstd stream `src`. Each chunk is valid only until
 * the next is asked for (one output buffer is reused). Corruption, a bad
 * checksum, a window over the bound or a stream that stops inside a frame end
 * in VMA_COMPRESSION_CORRUPT, with the compressed offset in the message.
 */
export async function* libzstdDecode(src: AsyncIterable<Uint8Array>, label: string): AsyncGenerator<Uint8Array> {
  const z = libzstd()
  if (!z) throw new Error(`libzstd is not available: ${libzstdMissing()}`)
  const dctx = new z.DCtx()
  dctx.setParameter(z.DParameter.windowLogMax, WINDOW_LOG_MAX)
  const out = Buffer.allocUnsafe(OUT_BYTES)
  let consumed = 0 // compressed bytes taken so far, for messages
  let hint = 0 // ZSTD_decompressStream's return at its last progress: 0 once a frame is complete
  let any = false
  for await (const chunk of src) {
    let input = chunk
    let sinceTurn = 0
    // Until the chunk is used up and the decoder has nothing more to flush
    // (a full output buffer may leave output pending without more input).
    for (;;) {
      let r: StreamResult
      try {
        r = dctx.decompressStream(out, input)
      } catch (e) {
        throw corrupt(`zstd data is corrupt near compressed offset ${consumed}: ${(e as Error).message}`, label)
      }
      any = true
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
  if (!any || hint !== 0) throw corrupt(`zstd data is corrupt at compressed offset ${consumed}: the stream ends inside a frame`, label)
}

function corrupt(message: string, label: string): VmaError {
  const e = new VmaError('VMA_COMPRESSION_CORRUPT', -1, message)
  e.file = label // named once, by whoever reports it
  return e
}
