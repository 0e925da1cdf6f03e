// The fixed newstyle handshake: the server greets, the client sends its
// flags, then options until one of them (GO or EXPORT_NAME) picks an export
// and moves to the transmission phase, or ABORT ends it. Each option's data
// is bounded (MAX_OPTION) before it is read; a longer one ends the
// connection, since skipping gigabytes a client claims would only let it
// hold the connection. Malformed option data gets NBD_REP_ERR_INVALID and
// the negotiation goes on.

import type { Socket } from 'node:net'
import * as P from './nbd-protocol.js'
import type { ExportedDevice } from './device-export.js'
import type { SocketReader } from './socket-reader.js'
import { Cursor, ProtocolError, send } from './nbd-wire.js'

/** The exports a server offers; the empty name means the first. */
export interface ExportSet {
  readonly devices: readonly ExportedDevice[]
  find(name: string): ExportedDevice | undefined
}

/** What the handshake settled. */
export interface Negotiated {
  device: ExportedDevice
  structured: boolean
  /** base:allocation was selected for this export: BLOCK_STATUS is allowed. */
  blockStatus: boolean
}

/**
 * Transmission flags of every export: read only, flush a no-op, safe for
 * many connections; DF (never fragment a read) only with structured replies,
 * as the protocol requires.
 */
export const exportFlags = (structured: boolean): number => P.TFLAG_HAS_FLAGS | P.TFLAG_READ_ONLY | P.TFLAG_SEND_FLUSH | P.TFLAG_CAN_MULTI_CONN | (structured ? P.TFLAG_SEND_DF : 0)

const describe = (d: ExportedDevice) => `${d.name}, ${d.size} bytes, read only`

class Handshake {
  private structured = false
  private noZeroes = false
  /** The export named in SET_META_CONTEXT that selected base:allocation. */
  private metaExport?: string

  constructor(
    private readonly sock: Socket,
    private readonly reader: SocketReader,
    private readonly exports: ExportSet,
  ) {}

  async run(): Promise<Negotiated | undefined> {
    await send(this.sock, P.greeting())
    const flags = await this.reader.read(4)
    if (!flags) return undefined
    const f = flags.readUInt32BE(0)
    if (f & ~(P.CLIENT_FLAG_FIXED_NEWSTYLE | P.CLIENT_FLAG_NO_ZEROES)) throw new ProtocolError(`unknown client flags 0x${f.toString(16)}`)
    this.noZeroes = (f & P.CLIENT_FLAG_NO_ZEROES) !== 0
    for (;;) {
      const head = await this.reader.read(16)
      if (!head) return undefined
      if (head.readBigUInt64BE(0) !== P.IHAVEOPT) throw new ProtocolError('bad option magic')
      const option = head.readUInt32BE(8)
      const length = head.readUInt32BE(12)
      if (length > P.MAX_OPTION) throw new ProtocolError(`option ${option} with ${length} bytes of data (at most ${P.MAX_OPTION})`)
      const data = length > 0 ? await this.reader.read(length) : Buffer.alloc(0)
      if (!data) throw new ProtocolError('the client went away in the middle of an option')
      const done = await this.option(option, data)
      if (done !== 'continue') return done
    }
  }

  /** Answers one option: 'continue', or the end of the handshake. */
  private async option(option: number, data: Buffer): Promise<Negotiated | undefined | 'continue'> {
    const reply = (type: number, payload?: Buffer) => send(this.sock, P.optionReply(option, type, payload))
    const fail = (type: number, why: string) => send(this.sock, P.optionError(option, type, why)).then(() => 'continue' as const)
    switch (option) {
      case P.OPT_EXPORT_NAME: {
        const d = this.exports.find(data.toString('utf8'))
        // This option has no error reply: the protocol's answer is to disconnect.
        if (!d) throw new ProtocolError(`no export named ${JSON.stringify(data.toString('utf8').slice(0, 100))}`)
        await send(this.sock, P.exportNameReply(d.size, exportFlags(this.structured), this.noZeroes))
        return this.settle(d)
      }
      case P.OPT_ABORT:
        await reply(P.REP_ACK)
        return undefined
      case P.OPT_LIST:
        if (data.length !== 0) return fail(P.REP_ERR_INVALID, 'LIST takes no data')
        for (const d of this.exports.devices) await reply(P.REP_SERVER, P.serverEntry(d.name, describe(d)))
        await reply(P.REP_ACK)
        return 'continue'
      case P.OPT_STRUCTURED_REPLY:
        if (data.length !== 0) return fail(P.REP_ERR_INVALID, 'STRUCTURED_REPLY takes no data')
        if (this.structured) return fail(P.REP_ERR_INVALID, 'structured replies were already negotiated')
        this.structured = true
        await reply(P.REP_ACK)
        return 'continue'
      case P.OPT_INFO:
      case P.OPT_GO:
        return this.infoOrGo(option, data)
      case P.OPT_LIST_META_CONTEXT:
      case P.OPT_SET_META_CONTEXT:
        return this.metaContext(option, data)
      default:
        return fail(P.REP_ERR_UNSUP, `option ${option} is not supported`)
    }
  }

  private async infoOrGo(option: number, data: Buffer): Promise<Negotiated | 'continue'> {
    const c = new Cursor(data)
    const name = c.lenStr(P.MAX_STRING)
    const n = c.u16()
    if (name === undefined || n === undefined || c.left !== 2 * n) {
      await send(this.sock, P.optionError(option, P.REP_ERR_INVALID, 'malformed INFO/GO request'))
      return 'continue'
    }
    const wanted = new Set<number>()
    for (let i = 0; i < n; i++) wanted.add(c.u16()!)
    const d = this.exports.find(name)
    if (!d) {
      await send(this.sock, P.optionError(option, P.REP_ERR_UNKNOWN, `no export named ${JSON.stringify(name.slice(0, 100))}`))
      return 'continue'
    }
    const infos = [P.infoExport(d.size, exportFlags(this.structured)), P.infoBlockSize()]
    if (wanted.has(P.INFO_NAME)) infos.push(P.infoString(P.INFO_NAME, d.name))
    if (wanted.has(P.INFO_DESCRIPTION)) infos.push(P.infoString(P.INFO_DESCRIPTION, describe(d)))
    await send(this.sock, ...infos.map(i => P.optionReply(option, P.REP_INFO, i)), P.optionReply(option, P.REP_ACK))
    if (option === P.OPT_INFO) return 'continue'
    return this.settle(d)
  }

  private settle(d: ExportedDevice): Negotiated {
    // Contexts chosen for another export do not carry over (the protocol says so).
    const blockStatus = this.structured && this.metaExport !== undefined && this.exports.find(this.metaExport) === d
    return { device: d, structured: this.structured, blockStatus }
  }

  /** LIST or SET_META_CONTEXT: only base:allocation exists here. */
  private async metaContext(option: number, data: Buffer): Promise<'continue'> {
    const fail = (type: number, why: string) => send(this.sock, P.optionError(option, type, why)).then(() => 'continue' as const)
    if (!this.structured) return fail(P.REP_ERR_INVALID, 'metadata contexts need structured replies first')
    const c = new Cursor(data)
    const name = c.lenStr(P.MAX_STRING)
    const n = c.u32()
    if (name === undefined || n === undefined) return fail(P.REP_ERR_INVALID, 'malformed metadata context request')
    const queries: string[] = []
    for (let i = 0; i < n; i++) {
      const q = c.lenStr(P.MAX_STRING)
      if (q === undefined) return fail(P.REP_ERR_INVALID, 'malformed metadata context query')
      queries.push(q)
    }
    if (c.left !== 0) return fail(P.REP_ERR_INVALID, 'trailing bytes after the metadata context queries')
    if (!this.exports.find(name)) return fail(P.REP_ERR_UNKNOWN, `no export named ${JSON.stringify(name.slice(0, 100))}`)
    const set = option === P.OPT_SET_META_CONTEXT
    const listAll = !set && queries.length === 0
    const match = listAll || queries.some(q => q === P.BASE_ALLOCATION || (!set && q === 'base:'))
    if (set) this.metaExport = match ? name : undefined
    if (match) await send(this.sock, P.optionReply(option, P.REP_META_CONTEXT, P.metaContextEntry(set ? P.BASE_ALLOCATION_ID : 0, P.BASE_ALLOCATION)))
    await send(this.sock, P.optionReply(option, P.REP_ACK))
    return 'continue'
  }
}

/**
 * Runs the handshake on a fresh connection. Resolves with the chosen export,
 * or undefined when the client aborted or went away; throws ProtocolError
 * when the client must be disconnected.
 */
export function negotiate(sock: Socket, reader: SocketReader, exports: ExportSet): Promise<Negotiated | undefined> {
  return new Handshake(sock, reader, exports).run()
}
