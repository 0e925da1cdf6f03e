// The transmission phase of one client: requests in, replies out, read only.
// Requests are read in order; up to MAX_IN_FLIGHT of them are served at once
// and their replies go out as each finishes (the protocol matches them by
// cookie). A read takes its buffer's size from the client's budget and the
// server's before allocating, and gives it back once the reply is sent, so
// memory stays bounded whatever the client asks and however slowly it reads.
//
// Mistakes the client can recover from get an error reply and the
// connection goes on: a read past the end or of 0 or > 32 MiB bytes
// (EINVAL), an unknown command (EINVAL), a write, trim or write-zeroes
// (EPERM, after the write's payload is skipped). Mistakes that lose the
// framing (a bad request magic, a write payload over 32 MiB) disconnect.

import type { Socket } from 'node:net'
import * as P from './nbd-protocol.js'
import type { Negotiated } from './nbd-handshake.js'
import type { SocketReader } from './socket-reader.js'
import { ByteBudget } from './byte-budget.js'
import { ProtocolError, send } from './nbd-wire.js'

/** Requests served at once per client. */
const MAX_IN_FLIGHT = 16
/** Block status answers at most this many extents (the client asks again for the rest). */
const MAX_EXTENTS = 1024

export class NbdSession {
  private inFlight = 0
  private readonly pending = new Set<Promise<void>>()
  private slotFree?: () => void
  /** This client's share: one maximal read, or several smaller ones. */
  private readonly own = new ByteBudget(P.MAX_REQUEST)
  /** Read buffers queued on the socket; given back when written, or all at once when it closes. */
  private readonly unsent = new Set<() => void>()

  constructor(
    private readonly sock: Socket,
    private readonly reader: SocketReader,
    private readonly neg: Negotiated,
    private readonly shared: ByteBudget,
    private readonly log: (msg: string) => void,
  ) {
    sock.once('close', () => {
      for (const release of [...this.unsent]) release()
    })
  }

  /** Serves requests until the client disconnects (DISC or end of stream); throws ProtocolError to drop it. */
  async run(): Promise<void> {
    try {
      for (;;) {
        const head = await this.reader.read(P.REQUEST_SIZE)
        if (!head) break
        const r = P.parseRequest(head)
        if (r.magic !== P.REQUEST_MAGIC) throw new ProtocolError(`bad request magic 0x${r.magic.toString(16)}`)
        if (r.type === P.CMD_DISC) break
        if (r.type === P.CMD_WRITE) {
          // The payload follows the header: skip it to stay in step, then refuse.
          if (r.length > P.MAX_REQUEST) throw new ProtocolError(`a write of ${r.length} bytes (at most ${P.MAX_REQUEST})`)
          await this.reader.skip(r.length)
          await this.fail(r, P.EPERM, 'the export is read only')
          continue
        }
        while (this.inFlight >= MAX_IN_FLIGHT) await new Promise<void>(go => (this.slotFree = go))
        this.inFlight++
        const p = this.handle(r).finally(() => {
          this.inFlight--
          this.pending.delete(p)
          const go = this.slotFree
          this.slotFree = undefined
          go?.()
        })
        this.pending.add(p)
      }
    } finally {
      await Promise.all(this.pending)
    }
  }

  /** Serves one request; never rejects (a failure is an error reply). */
  private async handle(r: P.NbdRequest): Promise<void> {
    const size = this.neg.device.size
    try {
      if (r.flags & ~P.KNOWN_CMD_FLAGS) return await this.fail(r, P.EINVAL, `unknown command flags 0x${r.flags.toString(16)}`)
      switch (r.type) {
        case P.CMD_READ:
        case P.CMD_BLOCK_STATUS:
          if (r.length === 0 || r.offset + r.length > size) return await this.fail(r, P.EINVAL, `${r.length} bytes at ${r.offset} are not inside the export (${size} bytes)`)
          if (r.type === P.CMD_BLOCK_STATUS) return await this.blockStatus(r)
          if (r.length > P.MAX_REQUEST) return await this.fail(r, P.EINVAL, `a read of ${r.length} bytes (at most ${P.MAX_REQUEST})`)
          return await this.read(r)
        case P.CMD_FLUSH:
          return await send(this.sock, P.simpleReply(0, r.cookie))
        case P.CMD_TRIM:
        case P.CMD_WRITE_ZEROES:
          return await this.fail(r, P.EPERM, 'the export is read only')
        default:
          return await this.fail(r, P.EINVAL, `command ${r.type} is not supported`)
      }
    } catch (e) {
      this.log(`read failed: ${(e as Error).message}`)
      await this.fail(r, P.EIO, 'the archive could not be read').catch(() => undefined)
    }
  }

  private fail(r: P.NbdRequest, errno: number, message: string): Promise<void> {
    // With structured replies, reads and block status must answer in chunks.
    const chunked = this.neg.structured && (r.type === P.CMD_READ || r.type === P.CMD_BLOCK_STATUS)
    return send(this.sock, chunked ? P.errorChunk(r.cookie, errno, message) : P.simpleReply(errno, r.cookie))
  }

  private async read(r: P.NbdRequest): Promise<void> {
    const len = r.length
    await this.own.acquire(len)
    await this.shared.acquire(len)
    const release = () => {
      if (!this.unsent.delete(release)) return
      this.shared.release(len)
      this.own.release(len)
    }
    this.unsent.add(release)
    if (this.sock.destroyed) return release()
    try {
      const buf = Buffer.allocUnsafe(len)
      await this.neg.device.read(r.offset, buf)
      const parts = this.replyParts(r, buf)
      if (this.sock.destroyed) return release()
      this.sock.cork()
      parts.forEach((b, i) => (i === parts.length - 1 ? this.sock.write(b, release) : this.sock.write(b)))
      this.sock.uncork()
    } catch (e) {
      release()
      throw e
    }
  }

  /** The reply to a read: simple, one data chunk (DF), or data and hole chunks. */
  private replyParts(r: P.NbdRequest, buf: Buffer): Buffer[] {
    if (!this.neg.structured) return [P.simpleReply(0, r.cookie), buf]
    if (r.flags & P.CMD_FLAG_DF) return [P.dataChunk(P.REPLY_FLAG_DONE, r.cookie, r.offset, buf.length), buf]
    const parts: Buffer[] = []
    const extents = this.neg.device.extents(r.offset, buf.length, Infinity)
    let at = 0
    extents.forEach((e, i) => {
      const flags = i === extents.length - 1 ? P.REPLY_FLAG_DONE : 0
      if (e.zero) parts.push(P.holeChunk(flags, r.cookie, r.offset + at, e.length))
      else parts.push(P.dataChunk(flags, r.cookie, r.offset + at, e.length), buf.subarray(at, at + e.length))
      at += e.length
    })
    return parts
  }

  private async blockStatus(r: P.NbdRequest): Promise<void> {
    if (!this.neg.blockStatus) return this.fail(r, P.EINVAL, 'base:allocation was not negotiated')
    const max = r.flags & P.CMD_FLAG_REQ_ONE ? 1 : MAX_EXTENTS
    const extents = this.neg.device.extents(r.offset, r.length, max)
    const desc = extents.map(e => ({ length: e.length, flags: e.zero ? P.STATE_HOLE | P.STATE_ZERO : 0 }))
    return send(this.sock, P.blockStatusChunk(r.cookie, P.BASE_ALLOCATION_ID, desc))
  }
}
