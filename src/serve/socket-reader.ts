// Exact-length reads from a socket, with a bounded buffer: once HIGH_WATER
// bytes wait unread the socket is paused, so a client that pipelines or
// floods cannot make the server hold more than that of its input.
//
// Time is bounded too: a read served from the buffer resolves without a
// turn of the event loop, and libuv reads a socket up to 32 times per turn,
// so a client flooding small requests (and reading their replies) had the
// server work through 2 MiB of them, per client, before it looked at
// anything else: SIGTERM, timers, the other clients. With 32 such clients
// on a loaded machine a SIGTERM waited 2 s. Every BURST messages the reader
// therefore yields one turn of the event loop.

import type { Socket } from 'node:net'

const HIGH_WATER = 64 << 10
/** Messages taken from the buffer before the reader lets the event loop turn. */
export const BURST = 64

export class SocketReader {
  private chunks: Buffer[] = []
  private buffered = 0
  private ended = false
  private wake?: () => void
  private burst = 0

  constructor(private readonly sock: Socket) {
    sock.on('data', (c: Buffer) => {
      this.chunks.push(c)
      this.buffered += c.length
      if (this.buffered >= HIGH_WATER) sock.pause()
      this.notify()
    })
    const end = () => {
      this.ended = true
      this.notify()
    }
    sock.on('end', end)
    sock.on('close', end)
  }

  private notify(): void {
    const w = this.wake
    this.wake = undefined
    w?.()
  }

  /** Waits until `n` bytes are buffered; false when the stream ended first. */
  private async fill(n: number): Promise<boolean> {
    while (this.buffered < n) {
      if (this.ended) return false
      if (this.sock.isPaused()) this.sock.resume()
      await new Promise<void>(r => (this.wake = r))
    }
    return true
  }

  /**
   * The next `n` bytes (callers bound n: a request header, or option data of
   * at most MAX_OPTION). `undefined` on a clean end before the first byte;
   * an error if the stream ends in the middle.
   */
  async read(n: number): Promise<Buffer | undefined> {
    if (++this.burst >= BURST) {
      this.burst = 0
      await new Promise<void>(r => setImmediate(r))
    }
    if (n === 0) return Buffer.alloc(0)
    if (!(await this.fill(n))) {
      if (this.buffered === 0) return undefined
      throw new Error(`the client went away in the middle of a message (${this.buffered} of ${n} bytes)`)
    }
    const out = this.take(n)
    if (this.buffered < HIGH_WATER && this.sock.isPaused() && !this.ended) this.sock.resume()
    return out
  }

  /** Drops the next `n` bytes (a write's payload) without keeping them. */
  async skip(n: number): Promise<void> {
    let left = n
    while (left > 0) {
      if (!(await this.fill(1))) throw new Error('the client went away in the middle of a message')
      const k = Math.min(left, this.buffered)
      this.take(k)
      left -= k
    }
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!
    let out: Buffer
    if (first.length >= n) {
      out = first.subarray(0, n)
      if (first.length === n) this.chunks.shift()
      else this.chunks[0] = first.subarray(n)
    } else {
      out = Buffer.allocUnsafe(n)
      let got = 0
      while (got < n) {
        const c = this.chunks[0]!
        const k = Math.min(c.length, n - got)
        c.copy(out, got, 0, k)
        got += k
        if (k === c.length) this.chunks.shift()
        else this.chunks[0] = c.subarray(k)
      }
    }
    this.buffered -= n
    return out
  }
}
