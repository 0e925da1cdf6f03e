// src/serve/: `vma-opt serve`, the disks of an archive as read-only network
// block devices (NBD). This file: the numbers of the NBD protocol
// (https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md) and
// encoders for everything the server sends. All integers are big endian.
// Nothing here allocates by a size the client chose.

/** "NBDMAGIC": the first 8 bytes the server sends. */
export const NBD_MAGIC = 0x4e42444d41474943n
/** "IHAVEOPT": newstyle negotiation, and the prefix of every client option. */
export const IHAVEOPT = 0x49484156454f5054n
/** Prefix of every option reply. */
export const OPTION_REPLY_MAGIC = 0x0003e889045565a9n
export const REQUEST_MAGIC = 0x25609513
export const SIMPLE_REPLY_MAGIC = 0x67446698
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef

// Handshake flags (server) and client flags.
export const FLAG_FIXED_NEWSTYLE = 1
export const FLAG_NO_ZEROES = 2
export const CLIENT_FLAG_FIXED_NEWSTYLE = 1
export const CLIENT_FLAG_NO_ZEROES = 2

// Options.
export const OPT_EXPORT_NAME = 1
export const OPT_ABORT = 2
export const OPT_LIST = 3
export const OPT_INFO = 6
export const OPT_GO = 7
export const OPT_STRUCTURED_REPLY = 8
export const OPT_LIST_META_CONTEXT = 9
export const OPT_SET_META_CONTEXT = 10

// Option reply types; errors have bit 31 set.
export const REP_ACK = 1
export const REP_SERVER = 2
export const REP_INFO = 3
export const REP_META_CONTEXT = 4
const REP_ERR = 0x80000000
export const REP_ERR_UNSUP = REP_ERR + 1
export const REP_ERR_POLICY = REP_ERR + 2
export const REP_ERR_INVALID = REP_ERR + 3
export const REP_ERR_UNKNOWN = REP_ERR + 6
export const REP_ERR_TOO_BIG = REP_ERR + 9

// NBD_REP_INFO payload types.
export const INFO_EXPORT = 0
export const INFO_NAME = 1
export const INFO_DESCRIPTION = 2
export const INFO_BLOCK_SIZE = 3

// Transmission flags.
export const TFLAG_HAS_FLAGS = 1 << 0
export const TFLAG_READ_ONLY = 1 << 1
export const TFLAG_SEND_FLUSH = 1 << 2
export const TFLAG_SEND_DF = 1 << 7
export const TFLAG_CAN_MULTI_CONN = 1 << 8

// Commands and command flags.
export const CMD_READ = 0
export const CMD_WRITE = 1
export const CMD_DISC = 2
export const CMD_FLUSH = 3
export const CMD_TRIM = 4
export const CMD_CACHE = 5
export const CMD_WRITE_ZEROES = 6
export const CMD_BLOCK_STATUS = 7
export const CMD_FLAG_FUA = 1 << 0
export const CMD_FLAG_NO_HOLE = 1 << 1
export const CMD_FLAG_DF = 1 << 2
export const CMD_FLAG_REQ_ONE = 1 << 3
export const CMD_FLAG_FAST_ZERO = 1 << 4
/** Every command flag this server understands; others are EINVAL. */
export const KNOWN_CMD_FLAGS = CMD_FLAG_FUA | CMD_FLAG_NO_HOLE | CMD_FLAG_DF | CMD_FLAG_REQ_ONE | CMD_FLAG_FAST_ZERO

// Structured reply chunks.
export const REPLY_FLAG_DONE = 1
export const REPLY_TYPE_OFFSET_DATA = 1
export const REPLY_TYPE_OFFSET_HOLE = 2
export const REPLY_TYPE_BLOCK_STATUS = 5
export const REPLY_TYPE_ERROR = 0x8001

/** Block status flags of the base:allocation context. */
export const STATE_HOLE = 1
export const STATE_ZERO = 2
export const BASE_ALLOCATION = 'base:allocation'
/** The id this server gives base:allocation when a client selects it. */
export const BASE_ALLOCATION_ID = 1

// Errors, as numbered by the protocol (the Linux values).
export const EPERM = 1
export const EIO = 5
export const EINVAL = 22
export const ENOTSUP = 95

// Bounds. A request longer than MAX_REQUEST is refused without reading or
// allocating it; option data longer than MAX_OPTION ends the connection.
export const MAX_REQUEST = 32 << 20
export const MAX_OPTION = 16 << 10
/** Names and query strings, as the protocol bounds them. */
export const MAX_STRING = 4096
export const PREFERRED_BLOCK = 4096
export const REQUEST_SIZE = 28

/** NBDMAGIC, IHAVEOPT, handshake flags: the server's first 18 bytes. */
export function greeting(): Buffer {
  const b = Buffer.alloc(18)
  b.writeBigUInt64BE(NBD_MAGIC, 0) // 0: NBDMAGIC
  b.writeBigUInt64BE(IHAVEOPT, 8) // 8: IHAVEOPT
  b.writeUInt16BE(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, 16) // 16: handshake flags
  return b
}

export function optionReply(option: number, type: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(20 + data.length)
  b.writeBigUInt64BE(OPTION_REPLY_MAGIC, 0) // 0: magic
  b.writeUInt32BE(option, 8) // 8: the option replied to
  b.writeUInt32BE(type, 12) // 12: reply type
  b.writeUInt32BE(data.length, 16) // 16: length of data
  data.copy(b, 20) // 20: data
  return b
}

/** An error reply, with a message for people (the protocol allows one). */
export function optionError(option: number, type: number, message: string): Buffer {
  return optionReply(option, type, Buffer.from(message.slice(0, 200), 'utf8'))
}

/** NBD_REP_SERVER payload: one export name and its description. */
export function serverEntry(name: string, description: string): Buffer {
  const n = Buffer.from(name, 'utf8')
  const b = Buffer.alloc(4 + n.length)
  b.writeUInt32BE(n.length, 0) // 0: name length
  n.copy(b, 4) // 4: name, then the description
  return Buffer.concat([b, Buffer.from(description, 'utf8')])
}

export function infoExport(size: number, flags: number): Buffer {
  const b = Buffer.alloc(12)
  b.writeUInt16BE(INFO_EXPORT, 0) // 0: info type
  b.writeBigUInt64BE(BigInt(size), 2) // 2: export size
  b.writeUInt16BE(flags, 10) // 10: transmission flags
  return b
}

export function infoString(type: number, text: string): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(type, 0) // 0: info type, then the text
  return Buffer.concat([b, Buffer.from(text, 'utf8')])
}

export function infoBlockSize(): Buffer {
  const b = Buffer.alloc(14)
  b.writeUInt16BE(INFO_BLOCK_SIZE, 0) // 0: info type
  b.writeUInt32BE(1, 2) // 2: minimum block size: any byte offset works
  b.writeUInt32BE(PREFERRED_BLOCK, 6) // 6: preferred block size
  b.writeUInt32BE(MAX_REQUEST, 10) // 10: maximum payload size
  return b
}

export function metaContextEntry(id: number, name: string): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(id, 0) // 0: context id, then the name
  return Buffer.concat([b, Buffer.from(name, 'utf8')])
}

/** The reply to NBD_OPT_EXPORT_NAME: size and flags, then 124 zeros unless the client said NO_ZEROES. */
export function exportNameReply(size: number, flags: number, noZeroes: boolean): Buffer {
  const b = Buffer.alloc(noZeroes ? 10 : 134)
  b.writeBigUInt64BE(BigInt(size), 0) // 0: export size
  b.writeUInt16BE(flags, 8) // 8: transmission flags
  return b
}

/** A request as it comes off the wire (28 bytes). */
export interface NbdRequest {
  magic: number
  flags: number
  type: number
  /** The client's 8-byte cookie, copied, echoed in every reply. */
  cookie: Buffer
  offset: number
  length: number
}

export function parseRequest(b: Buffer): NbdRequest {
  const offset = b.readBigUInt64BE(16)
  return {
    magic: b.readUInt32BE(0), // 0: request magic
    flags: b.readUInt16BE(4), // 4: command flags
    type: b.readUInt16BE(6), // 6: command type
    cookie: Buffer.from(b.subarray(8, 16)), // 8: cookie (handle)
    // 16: offset; beyond 2^53 it is past any export anyway.
    offset: offset > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(offset),
    length: b.readUInt32BE(24), // 24: length
  }
}

export function simpleReply(error: number, cookie: Buffer): Buffer {
  const b = Buffer.alloc(16)
  b.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0) // 0: magic
  b.writeUInt32BE(error, 4) // 4: error (0: ok)
  cookie.copy(b, 8) // 8: cookie
  return b
}

/** A structured reply chunk's 20-byte header followed by `head` (the payload's fixed part). */
export function chunk(flags: number, type: number, cookie: Buffer, payloadLength: number, head: Buffer): Buffer {
  const b = Buffer.alloc(20 + head.length)
  b.writeUInt32BE(STRUCTURED_REPLY_MAGIC, 0) // 0: magic
  b.writeUInt16BE(flags, 4) // 4: flags
  b.writeUInt16BE(type, 6) // 6: chunk type
  cookie.copy(b, 8) // 8: cookie
  b.writeUInt32BE(payloadLength, 16) // 16: payload length
  head.copy(b, 20) // 20: payload (or its start)
  return b
}

/** Header of an OFFSET_DATA chunk; the `len` data bytes follow it. */
export function dataChunk(flags: number, cookie: Buffer, offset: number, len: number): Buffer {
  const h = Buffer.alloc(8)
  h.writeBigUInt64BE(BigInt(offset), 0) // 0: offset of the data
  return chunk(flags, REPLY_TYPE_OFFSET_DATA, cookie, 8 + len, h)
}

export function holeChunk(flags: number, cookie: Buffer, offset: number, len: number): Buffer {
  const h = Buffer.alloc(12)
  h.writeBigUInt64BE(BigInt(offset), 0) // 0: offset of the hole
  h.writeUInt32BE(len, 8) // 8: hole size
  return chunk(flags, REPLY_TYPE_OFFSET_HOLE, cookie, 12, h)
}

export function errorChunk(cookie: Buffer, error: number, message: string): Buffer {
  const m = Buffer.from(message.slice(0, 200), 'utf8')
  const h = Buffer.alloc(6 + m.length)
  h.writeUInt32BE(error, 0) // 0: error
  h.writeUInt16BE(m.length, 4) // 4: message length
  m.copy(h, 6) // 6: message
  return chunk(REPLY_FLAG_DONE, REPLY_TYPE_ERROR, cookie, h.length, h)
}

/** A BLOCK_STATUS chunk: the context id, then (length, flags) per extent. */
export function blockStatusChunk(cookie: Buffer, contextId: number, extents: { length: number; flags: number }[]): Buffer {
  const h = Buffer.alloc(4 + 8 * extents.length)
  h.writeUInt32BE(contextId, 0) // 0: metadata context id
  extents.forEach((e, i) => {
    h.writeUInt32BE(e.length, 4 + 8 * i) // 4 + 8i: extent length
    h.writeUInt32BE(e.flags, 8 + 8 * i) // 8 + 8i: status flags
  })
  return chunk(REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, cookie, h.length, h)
}
