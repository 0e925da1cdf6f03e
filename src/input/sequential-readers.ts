// Reading a file or a pipe front to back into reused buffers: two buffers
// take turns, so the next read(2) runs while the caller works on the last one.
// A yielded chunk is valid only until the next one is asked for.

import { read } from 'node:fs'
import { promisify } from 'node:util'
import { fromSystemError } from '../util/errors.js'
import type { PositionalFile } from './positional-file.js'

/** Size of the buffers plain files are read with. */
export const READ_CHUNK = 4 << 20

const readP = promisify(read)

/** One read(2) on a named pipe given as SRC; waits and retries should its descriptor be non-blocking. */
export async function readFd(fd: number, buf: Buffer, off: number, len: number, label: string): Promise<number> {
  for (;;) {
    try {
      return (await readP(fd, buf, off, len, null)).bytesRead
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
        await new Promise(r => setTimeout(r, 2))
        continue
      }
      throw fromSystemError(e, `cannot read ${label}`)
    }
  }
}

/** A named pipe read into two reused buffers: one is being filled while the caller works on the other. */
export async function* readPipe(fd: number, label: string): AsyncGenerator<Uint8Array> {
  const bufs = [Buffer.allocUnsafe(1 << 20), Buffer.allocUnsafe(1 << 20)]
  let which = 0
  let pending = readFd(fd, bufs[0]!, 0, bufs[0]!.length, label)
  try {
    for (;;) {
      const n = await pending
      if (n === 0) return
      const buf = bufs[which]!
      which ^= 1
      pending = readFd(fd, bufs[which]!, 0, bufs[which]!.length, label)
      yield buf.subarray(0, n)
    }
  } finally {
    // Left early: the read in flight may wait for a writer that never comes,
    // so it is not waited for; its failure (the pipe closed) is nobody's.
    pending.catch(() => undefined)
  }
}

/**
 * Sequential reads with two buffers, so the next read runs while the caller
 * works. `chunk`: bytes per read (compressed input needs less: each of its
 * bytes stands for several).
 */
export async function* readFile(file: PositionalFile, chunk = READ_CHUNK): AsyncGenerator<Uint8Array> {
  const bufs = [Buffer.allocUnsafe(chunk), Buffer.allocUnsafe(chunk)]
  let pos = 0
  let which = 0
  let pending = file.read(bufs[0]!, 0, chunk, 0)
  try {
    for (;;) {
      const n = await pending
      if (n === 0) return
      const buf = bufs[which]!
      pos += n
      which ^= 1
      pending = n < chunk ? Promise.resolve(0) : file.read(bufs[which]!, 0, chunk, pos)
      yield n === chunk ? buf : buf.subarray(0, n)
    }
  } finally {
    // Left early (a reader that wanted only the start): the read in flight
    // ends before anyone may close the file, or it would fail unheard
    // (EBADF) or, with the descriptor reused, read another file.
    await pending.catch(() => undefined)
  }
}
