// Small helpers both phases share: sending with backpressure, a bounds-checked
// cursor over option data, and the error that means "drop this client".

import type { Socket } from 'node:net'

/** The client broke the protocol in a way that leaves no way to answer it: disconnect. */
export class ProtocolError extends Error {}

/**
 * Writes buffers as one uninterrupted reply (the handshake's; the
 * transmission phase has its ReplyChannel). Waits for the socket to drain
 * once its buffer is full (16 KiB), so a client that sends options but never
 * reads the replies stalls itself: a few hundred small replies queued, not
 * hundreds of thousands, each costing far more than its bytes.
 */
export async function send(sock: Socket, ...bufs: Buffer[]): Promise<void> {
  if (sock.destroyed) return
  sock.cork()
  for (const b of bufs) sock.write(b)
  sock.uncork()
  if (sock.writableNeedDrain) await drained(sock)
}

export function drained(sock: Socket): Promise<void> {
  return new Promise(resolve => {
    if (sock.destroyed || sock.writableLength === 0) return resolve()
    const done = () => {
      sock.off('drain', done)
      sock.off('close', done)
      resolve()
    }
    sock.on('drain', done)
    sock.on('close', done)
  })
}

/** Reads fields out of option data; every read checks the bounds first. */
export class Cursor {
  private at = 0

  constructor(private readonly b: Buffer) {}

  get left(): number {
    return this.b.length - this.at
  }

  u16(): number | undefined {
    if (this.left < 2) return undefined
    this.at += 2
    return this.b.readUInt16BE(this.at - 2)
  }

  u32(): number | undefined {
    if (this.left < 4) return undefined
    this.at += 4
    return this.b.readUInt32BE(this.at - 4)
  }

  /** A string of `n` bytes (UTF-8), if that many remain and `n` is at most `max`. */
  str(n: number, max: number): string | undefined {
    if (n > this.left || n > max) return undefined
    this.at += n
    return this.b.toString('utf8', this.at - n, this.at)
  }

  /** A u32 length, then that many bytes of string. */
  lenStr(max: number): string | undefined {
    const n = this.u32()
    return n === undefined ? undefined : this.str(n, max)
  }
}
