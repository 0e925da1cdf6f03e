// The transmission phase of one client: requests in, replies out, read only.
// Requests are read in order; up to MAX_IN_FLIGHT of them are served at once
// and their replies go out as each finishes (the protocol matches them by
// cookie), one at a time through the client's ReplyChannel.
//
// Memory does not depend on what the client asks or how it reads: a read
// takes one of the client's reusable pieces (nbd-read-pieces), and a read
// larger than a piece is streamed through it, the piece refilled only once
// the socket has written it out. A client that never reads its replies
// therefore stops the pieces, then the requests in flight, then the reading
// of its socket (backpressure), holding two pieces and a bounded input buffer.
//
// Mistakes the client can recover from get an error reply and the
// connection goes on: a read past the end or of 0 or > 32 MiB bytes
// (EINVAL), an unknown command (EINVAL), a write, trim or write-zeroes
// (EPERM, after the write's payload is skipped). Mistakes that lose the
// framing (a bad request magic, a write payload over 32 MiB) disconnect.
// A read the archive cannot serve (damaged data) fails with EIO, for that
// request only, and is logged; its data is never sent.

import type { Socket } from 'node:net'
import * as P from './nbd-protocol.js'
import type { Negotiated } from './nbd-handshake.js'
import type { SocketReader } from './socket-reader.js'
import { ReplyChannel } from './nbd-reply-channel.js'
import { ReadPieces } from './nbd-read-pieces.js'
import { ProtocolError } from './nbd-wire.js'

/** Requests served at once per client. */
const MAX_IN_FLIGHT = 16
/** Block status answers at most this many extents (the client asks again for the rest). */
const MAX_EXTENTS = 1024

export class NbdSession {
  private inFlight = 0
  private readonly pending = new Set<Promise<void>>()
  private slotFree?: () => void
  private readonly out: ReplyChannel
  private readonly pieces = new ReadPieces()

  /** `onProgress` is told of every request received and every reply written out (the watchdog's clock). */
  constructor(
    private readonly sock: Socket,
    private readonly reader: SocketReader,
    private readonly neg: Negotiated,
    private readonly log: (msg: string) => void,
    private readonly onProgress: () => void = () => undefined,
  ) {
    this.out = new ReplyChannel(sock, onProgress)
  }

  /** True while requests are being served or replies wait to be written out. */
  get busy(): boolean {
    return this.inFlight > 0 || this.out.pending > 0
  }

  /** Serves requests until the client disconnects (DISC or end of stream); throws ProtocolError to drop it. */
  async run(): Promise<void> {
    try {
      for (;;) {
        const head = await this.reader.read(P.REQUEST_SIZE)
        if (!head) break
        this.onProgress()
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
      // Replies to what was asked before the end still go out (a client may
      // half-close its side after its last request).
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
          return await this.out.reply([P.simpleReply(0, r.cookie)])
        case P.CMD_TRIM:
        case P.CMD_WRITE_ZEROES:
          return await this.fail(r, P.EPERM, 'the export is read only')
        default:
          return await this.fail(r, P.EINVAL, `command ${r.type} is not supported`)
      }
    } catch (e) {
      this.readFailed(r, e)
      await this.fail(r, P.EIO, 'the archive could not be read').catch(() => undefined)
    }
  }

  private readFailed(r: P.NbdRequest, e: unknown): void {
    const why = e instanceof Error ? e.message : String(e)
    const code = (e as { code?: unknown }).code
    this.log(`${this.neg.device.name}: a read of ${r.length} bytes at ${r.offset} failed with EIO: ${why}${typeof code === 'string' && code.startsWith('VMA_') ? ` (${code})` : ''}`)
  }

  private fail(r: P.NbdRequest, errno: number, message: string): Promise<void> {
    return this.out.reply([this.errorReply(r, errno, message)])
  }

  private errorReply(r: P.NbdRequest, errno: number, message: string): Buffer {
    // With structured replies, reads and block status must answer in chunks.
    const chunked = this.neg.structured && (r.type === P.CMD_READ || r.type === P.CMD_BLOCK_STATUS)
    return chunked ? P.errorChunk(r.cookie, errno, message) : P.simpleReply(errno, r.cookie)
  }

  private async read(r: P.NbdRequest): Promise<void> {
    const piece = await this.pieces.take()
    let handedOver = false
    try {
      if (this.sock.destroyed) return
      if (r.length <= piece.length) {
        // The common case: read whole, then one reply; a failure sends nothing but EIO.
        const buf = piece.subarray(0, r.length)
        await this.neg.device.read(r.offset, buf)
        handedOver = true
        return await this.out.reply(this.replyParts(r, buf), () => this.pieces.give(piece))
      }
      handedOver = true
      await this.stream(r, piece)
    } finally {
      if (!handedOver) this.pieces.give(piece)
    }
  }

  /**
   * A read larger than a piece, streamed piece by piece while it holds the
   * channel. A simple reply or a DF chunk announces success before its data,
   * so there the range is read once beforehand: a damaged range fails with
   * EIO before anything is sent. Structured replies go out as hole chunks
   * (never read) and data chunks of a piece each, and a failure ends them
   * with an error chunk.
   */
  private async stream(r: P.NbdRequest, piece: Buffer): Promise<void> {
    const chunked = this.neg.structured && (r.flags & P.CMD_FLAG_DF) === 0
    const runs: { offset: number; length: number; zero: boolean }[] = []
    try {
      let at = r.offset
      if (chunked) {
        for (const e of this.neg.device.extents(r.offset, r.length, Infinity)) {
          runs.push({ offset: at, length: e.length, zero: e.zero })
          at += e.length
        }
      }
      if (at < r.offset + r.length) runs.push({ offset: at, length: r.offset + r.length - at, zero: false })
      if (!chunked) for (let at = 0; at < r.length; at += piece.length) await this.neg.device.read(r.offset + at, piece.subarray(0, Math.min(piece.length, r.length - at)))
    } catch (e) {
      this.pieces.give(piece)
      throw e
    }
    const end = r.offset + r.length
    await this.out.stream(async send => {
      try {
        for (const run of runs) {
          const runEnd = run.offset + run.length
          if (run.zero) {
            await send([P.holeChunk(runEnd === end ? P.REPLY_FLAG_DONE : 0, r.cookie, run.offset, run.length)])
            continue
          }
          for (let at = run.offset; at < runEnd; at += piece.length) {
            if (this.sock.destroyed) return
            const buf = piece.subarray(0, Math.min(piece.length, runEnd - at))
            try {
              await this.neg.device.read(at, buf)
            } catch (e) {
              this.readFailed(r, e)
              // Without chunks, a reply whose header went out can only be cut
              // off: the range read fine a moment ago, so it changed under us.
              if (!chunked && at > r.offset) this.sock.destroy()
              else await send([this.errorReply(r, P.EIO, 'the archive could not be read')])
              return
            }
            const last = at + buf.length === end
            if (chunked) await send([P.dataChunk(last ? P.REPLY_FLAG_DONE : 0, r.cookie, at, buf.length), buf])
            else await send(at === r.offset ? [this.replyHead(r), buf] : [buf])
          }
        }
      } finally {
        this.pieces.give(piece)
      }
    })
  }

  /** What goes before the data of a simple reply or a DF chunk. */
  private replyHead(r: P.NbdRequest): Buffer {
    return this.neg.structured ? P.dataChunk(P.REPLY_FLAG_DONE, r.cookie, r.offset, r.length) : P.simpleReply(0, r.cookie)
  }

  /** The reply to a read read whole into `buf`: simple, one data chunk (DF), or data and hole chunks. */
  private replyParts(r: P.NbdRequest, buf: Buffer): Buffer[] {
    if (!this.neg.structured || r.flags & P.CMD_FLAG_DF) return [this.replyHead(r), buf]
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
    return this.out.reply([P.blockStatusChunk(r.cookie, P.BASE_ALLOCATION_ID, desc)])
  }
}
