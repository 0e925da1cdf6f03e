// A child process's stdout read into one reused buffer. Node's stream API
// allocates a new buffer for every read(2) of a pipe; a decompressor's output
// is GiBs in 64 KiB reads, and those buffers died slowly: a chunk that
// happened to be alive at a minor collection went to the old generation, and
// its 64 KiB were freed only at the next major one, which V8 starts when
// some 30 MB of such garbage has piled up (optimize of a .vma.zst swung
// 30 MB in RSS from it and spent a third of its own CPU time collecting).
// net.Socket can read into a buffer of ours instead (its `onread` option);
// the child's pipe handle is moved into such a socket before anything read
// from it. Where that is not possible (a Node without the handle), the
// stream is read as usual.
//
// Why a private field: no public API reads a child's pipe into a buffer of
// ours. `onread` exists only for sockets we construct, child_process cannot
// be handed such a socket for the child's stdout, and Node has no socketpair
// or pipe() to make one; a FIFO read with fs.read would cost a thread-pool
// round trip per read. test/node-internals.test.ts pins what this relies on
// (`_handle` with `useUserBuffer`, adopted by net.Socket), so a Node that
// drops it fails there by name; the stream path below stays correct anyway.

import net from 'node:net'
import type { Readable } from 'node:stream'
import { YoungGarbage } from '../util/young-garbage.js'

/** Bytes of one read (a pipe rarely holds more; a socketpair may). */
const READ_BUFFER = 1 << 20
/** Read as a stream: a minor collection every so many bytes (util/young-garbage). */
const STREAM_COLLECT_BYTES = 8 << 20

interface PipeHandle {
  useUserBuffer?: unknown
}

/**
 * The bytes the child writes to `stdout`, each chunk valid only until the
 * next is asked for. Reading pauses while the caller works on a chunk.
 */
export async function* childOutput(stdout: Readable): AsyncGenerator<Uint8Array> {
  const old = stdout as Readable & { _handle?: PipeHandle | null }
  const handle = old._handle
  if (!handle || typeof handle.useUserBuffer !== 'function' || old.readableFlowing !== null) {
    const garbage = new YoungGarbage(STREAM_COLLECT_BYTES)
    for await (const c of stdout as AsyncIterable<Uint8Array>) {
      garbage.add(c.length)
      yield c
    }
    return
  }
  // The old socket lets go of the handle and closes without touching it, so
  // that the child's 'close' event, which waits for every stdio stream, comes.
  old._handle = null
  old.destroy()

  const buffer = Buffer.allocUnsafe(READ_BUFFER)
  let chunk: Uint8Array | undefined
  let ended = false
  let failure: Error | undefined
  let wake: (() => void) | undefined
  const signal = () => {
    wake?.()
    wake = undefined
  }
  // `handle` is not in Node's typings, but net.Socket takes it (child_process builds its own stdio sockets so).
  const sock = new net.Socket({
    handle,
    readable: true,
    writable: false,
    onread: {
      buffer,
      // Returning false pauses the socket: the buffer is not read into again before the caller is done with it.
      callback: (n: number) => {
        chunk = buffer.subarray(0, n)
        signal()
        return false
      },
    },
  } as net.SocketConstructorOpts)
  sock.on('end', () => {
    ended = true
    signal()
  })
  sock.on('error', e => {
    failure = e
    signal()
  })
  sock.on('close', () => {
    ended = true
    signal()
  })
  try {
    for (;;) {
      while (!chunk && !ended && !failure) await new Promise<void>(r => (wake = r))
      if (chunk) {
        const c = chunk
        chunk = undefined
        yield c
        sock.resume()
        continue
      }
      if (failure) throw failure
      return
    }
  } finally {
    sock.destroy()
  }
}
