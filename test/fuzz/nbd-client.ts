// A raw NBD client for tests and the fuzzer: it sends exactly the bytes it
// is told to (hostile ones too) and parses what comes back, simple and
// structured replies, without trusting a length it did not ask for.

import { connect, type Socket } from 'node:net'
import { SocketReader } from '../../src/serve/socket-reader.js'
import { CMD_FLAG_DF, CMD_READ, IHAVEOPT, NBD_MAGIC, OPT_GO, OPT_STRUCTURED_REPLY, REQUEST_MAGIC, SIMPLE_REPLY_MAGIC, STRUCTURED_REPLY_MAGIC } from '../../src/serve/nbd-protocol.js'

export { CMD_FLUSH, OPT_GO } from '../../src/serve/nbd-protocol.js'
export const FLAG_DF = CMD_FLAG_DF

/** NBD_OPT_* header and data. */
export function optionBytes(opt: number, data: Buffer, length = data.length): Buffer {
  const h = Buffer.alloc(16)
  h.writeBigUInt64BE(IHAVEOPT, 0)
  h.writeUInt32BE(opt, 8)
  h.writeUInt32BE(length, 12)
  return Buffer.concat([h, data])
}

/** The data of NBD_OPT_GO / NBD_OPT_INFO for `name`, asking for no extra info. */
export function goData(name: string): Buffer {
  const n = Buffer.from(name)
  const d = Buffer.alloc(6 + n.length)
  d.writeUInt32BE(n.length, 0)
  n.copy(d, 4)
  return d
}

export function requestBytes(type: number, offset: number | bigint, length: number, cookie: number, flags = 0): Buffer {
  const r = Buffer.alloc(28)
  r.writeUInt32BE(REQUEST_MAGIC, 0)
  r.writeUInt16BE(flags, 4)
  r.writeUInt16BE(type, 6)
  r.writeBigUInt64BE(BigInt(cookie), 8)
  r.writeBigUInt64BE(BigInt(offset), 16)
  r.writeUInt32BE(length, 24)
  return r
}

/** A read's outcome: its bytes (holes filled with zeros), or the error number. */
export type ReadResult = { error: 0; data: Buffer } | { error: number; data?: undefined }

export class RawNbd {
  readonly reader: SocketReader
  readonly closed: Promise<void>
  isClosed = false
  structured = false

  constructor(readonly sock: Socket) {
    sock.on('error', () => undefined)
    this.reader = new SocketReader(sock)
    this.closed = new Promise(r =>
      sock.on('close', () => {
        this.isClosed = true
        r()
      }),
    )
  }

  /** Connects to a Unix socket path and reads the greeting; sends nothing. */
  static async connect(path: string): Promise<RawNbd> {
    const sock = connect(path)
    await new Promise((r, j) => sock.once('connect', r).once('error', j))
    const c = new RawNbd(sock)
    const g = await c.reader.read(18)
    if (g?.readBigUInt64BE(0) !== NBD_MAGIC) throw new Error('no NBDMAGIC greeting')
    return c
  }

  /** Greeting, client flags, optionally STRUCTURED_REPLY, then GO: the export's size, or -(error reply type). */
  static async open(path: string, name = '', structured = false): Promise<[RawNbd, number]> {
    const c = await RawNbd.connect(path)
    c.sock.write(Buffer.from([0, 0, 0, 3])) // fixed newstyle, no zeroes
    if (structured) {
      c.sock.write(optionBytes(OPT_STRUCTURED_REPLY, Buffer.alloc(0)))
      const h = await c.reader.read(20)
      if (h?.readUInt32BE(12) !== 1) throw new Error('STRUCTURED_REPLY refused')
      c.structured = true
    }
    return [c, await c.go(name)]
  }

  async go(name: string): Promise<number> {
    this.sock.write(optionBytes(OPT_GO, goData(name)))
    let size = -1
    for (;;) {
      const h = await this.reader.read(20)
      if (!h) throw new Error('the server closed the connection during GO')
      const n = h.readUInt32BE(16)
      if (n > 65536) throw new Error(`an option reply of ${n} bytes`)
      const body = (await this.reader.read(n)) ?? Buffer.alloc(0)
      const type = h.readUInt32BE(12)
      if (type === 3 && body.length >= 10 && body.readUInt16BE(0) === 0) size = Number(body.readBigUInt64BE(2))
      if (type !== 3) return type === 1 ? size : -type
    }
  }

  request(type: number, offset: number | bigint, length: number, cookie: number, flags = 0): void {
    this.sock.write(requestBytes(type, offset, length, cookie, flags))
  }

  /**
   * The reply to a read of `length` bytes at `offset` (the next reply on the
   * wire must be it): simple, or structured chunks up to DONE.
   */
  async readReply(offset: number, length: number, cookie: number): Promise<ReadResult> {
    const no = () => new Error('the server closed the connection in the middle of a reply')
    if (!this.structured) {
      const h = await this.reader.read(16)
      if (!h) throw no()
      if (h.readUInt32BE(0) !== SIMPLE_REPLY_MAGIC) throw new Error('not a simple reply')
      if (Number(h.readBigUInt64BE(8)) !== cookie) throw new Error(`cookie ${h.readBigUInt64BE(8)}, expected ${cookie}`)
      const error = h.readUInt32BE(4)
      if (error) return { error }
      const data = await this.reader.read(length)
      if (!data) throw no()
      return { error: 0, data: Buffer.from(data) }
    }
    const out = Buffer.alloc(length)
    let error = 0
    for (;;) {
      const h = await this.reader.read(20)
      if (!h) throw no()
      if (h.readUInt32BE(0) !== STRUCTURED_REPLY_MAGIC) throw new Error('not a structured reply')
      if (Number(h.readBigUInt64BE(8)) !== cookie) throw new Error(`cookie ${h.readBigUInt64BE(8)}, expected ${cookie}`)
      const flags = h.readUInt16BE(4)
      const type = h.readUInt16BE(6)
      const n = h.readUInt32BE(16)
      if (type === 1) {
        const o = await this.reader.read(8)
        if (!o) throw no()
        const at = Number(o.readBigUInt64BE(0)) - offset
        if (at < 0 || at + n - 8 > length) throw new Error(`a data chunk outside the read (${at}, ${n - 8} bytes)`)
        const data = await this.reader.read(n - 8)
        if (!data) throw no()
        data.copy(out, at)
      } else {
        if (n > 65536) throw new Error(`a chunk of ${n} bytes`)
        const body = await this.reader.read(n)
        if (!body) throw no()
        if (type === 2) {
          const at = Number(body.readBigUInt64BE(0)) - offset
          if (at < 0 || at + body.readUInt32BE(8) > length) throw new Error('a hole chunk outside the read')
        } else if (type & 0x8000) error = body.readUInt32BE(0)
        else throw new Error(`chunk type ${type} in a read reply`)
      }
      if (flags & 1) return error ? { error } : { error: 0, data: out }
    }
  }

  /** A read, sent and answered. */
  async read(offset: number, length: number, cookie = 1, flags = 0): Promise<ReadResult> {
    this.request(CMD_READ, offset, length, cookie, flags)
    return this.readReply(offset, length, cookie)
  }
}

/** Reads a whole export through `c` in `step`-byte reads; throws on any error reply. */
export async function readWhole(c: RawNbd, size: number, step = 1 << 20): Promise<Buffer> {
  const out = Buffer.alloc(size)
  for (let at = 0, k = 1; at < size; at += step, k++) {
    const r = await c.read(at, Math.min(step, size - at), k)
    if (!r.data) throw new Error(`read at ${at}: error ${r.error}`)
    r.data.copy(out, at)
  }
  return out
}
