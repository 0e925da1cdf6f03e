// Every reply of one client in the transmission phase goes out through its
// ReplyChannel. Replies never interleave: a reply streamed in pieces holds
// the channel until its last piece is queued. And the channel counts the
// replies queued on the socket but not yet written out: beyond MAX_QUEUED it
// waits, so a client that floods small requests and never reads the replies
// stalls itself instead of piling up write requests in the server (each
// costs far more memory than its 16 bytes).

import type { Socket } from 'node:net'

/** Replies handed to the socket and not yet written out, per client. */
const MAX_QUEUED = 32

export class ReplyChannel {
  private tail: Promise<void> = Promise.resolve()
  private queued = 0
  private readonly waiting: (() => void)[] = []

  /** `onWritten` is told each time a reply has left for the client (the client is reading). */
  constructor(
    private readonly sock: Socket,
    private readonly onWritten: () => void,
  ) {
    sock.once('close', () => this.wakeAll())
  }

  /** Replies queued and not yet written out. */
  get pending(): number {
    return this.queued
  }

  /**
   * Queues one whole reply once the replies before it are queued and there
   * is room. Resolves when it is queued; `written` runs once the socket has
   * written it out or has closed, after which its buffers may be reused.
   */
  reply(parts: Buffer[], written?: () => void): Promise<void> {
    return this.exclusive(() => this.queue(parts, written))
  }

  /**
   * A reply in pieces: `fn` has the channel to itself until it resolves, and
   * each `piece` resolves once that piece is written out (its buffer free again).
   */
  stream(fn: (piece: (parts: Buffer[]) => Promise<void>) => Promise<void>): Promise<void> {
    return this.exclusive(() => fn(parts => new Promise<void>(written => void this.queue(parts, written))))
  }

  private exclusive(fn: () => Promise<void>): Promise<void> {
    const run = this.tail.then(fn)
    this.tail = run.catch(() => undefined)
    return run
  }

  private async queue(parts: Buffer[], written?: () => void): Promise<void> {
    while (!this.sock.destroyed && this.queued >= MAX_QUEUED) await new Promise<void>(r => this.waiting.push(r))
    if (this.sock.destroyed || parts.length === 0) return written?.()
    this.queued++
    const done = (e?: Error | null) => {
      this.queued--
      if (!e) this.onWritten()
      written?.()
      this.waiting.shift()?.()
    }
    this.sock.cork()
    parts.forEach((b, i) => (i === parts.length - 1 ? this.sock.write(b, done) : this.sock.write(b)))
    this.sock.uncork()
  }

  private wakeAll(): void {
    for (const w of this.waiting.splice(0)) w()
  }
}
