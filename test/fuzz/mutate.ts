// Mutations of a VMA archive for the fuzzer: blind ones (bit flips,
// truncations, splices) and ones that know the format (header fields, the
// blob table, extent headers and masks), which mostly repair the md5s so
// the damage reaches the checks behind them. Every choice comes from the
// case's PRNG, so a case is reproducible from (seed, index).

import { createHash } from 'node:crypto'

export type Rng = () => number

/** mulberry32: small, fast, deterministic. */
export function rng(seed: number): Rng {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const int = (r: Rng, n: number) => Math.floor(r() * n)
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[int(r, xs.length)]!

/** The header size field, or a guess when it is damaged. */
function headerSizeOf(b: Buffer): number {
  if (b.length < 60) return b.length
  const h = b.readUInt32BE(56)
  return h > 12288 && h <= b.length ? h : Math.min(b.length, 12288)
}

/** Offsets of the extents that still parse (magic and block count). */
export function extentOffsets(b: Buffer): number[] {
  const out: number[] = []
  let off = headerSizeOf(b)
  while (off + 512 <= b.length && b.toString('latin1', off, off + 4) === 'VMAE') {
    out.push(off)
    off += 512 + b.readUInt16BE(off + 6) * 4096
  }
  return out
}

export function fixHeaderMd5(b: Buffer): void {
  if (b.length < 60) return
  const size = b.readUInt32BE(56)
  if (size < 60 || size > b.length) return
  b.fill(0, 32, 48)
  createHash('md5').update(b.subarray(0, size)).digest().copy(b, 32)
}

export function fixExtentMd5(b: Buffer, off: number): void {
  if (off + 512 > b.length) return
  b.fill(0, off + 24, off + 40)
  createHash('md5')
    .update(b.subarray(off, off + 512))
    .digest()
    .copy(b, off + 24)
}

const U32_VALUES = [0, 1, 2, 511, 512, 4095, 4096, 12287, 12288, 12289, 12800, 65535, 65536, 524288, 524289, 0x7fffffff, 0xffffffff]

function interesting32(r: Rng, old: number, fileSize: number): number {
  switch (int(r, 4)) {
    case 0:
      return pick(r, U32_VALUES)
    case 1:
      return (old + pick(r, [-512, -2, -1, 1, 2, 512])) >>> 0
    case 2:
      return Math.min(0xffffffff, fileSize + pick(r, [-1, 0, 1]))
    default:
      return int(r, 0x100000000)
  }
}

function interestingSize(r: Rng, old: bigint): bigint {
  const v = [
    0n,
    1n,
    511n,
    512n,
    4096n,
    65535n,
    65536n,
    65537n,
    old - 1n,
    old + 1n,
    old + 4096n,
    old * 2n,
    old / 2n,
    1n << 32n,
    (1n << 32n) * 65536n,
    (1n << 32n) * 65536n + 1n,
    1n << 53n,
    (1n << 64n) - 1n,
  ]
  const x = int(r, 5) === 0 ? BigInt(int(r, 0x100000000)) * BigInt(1 + int(r, 65536)) : pick(r, v)
  return x < 0n ? 0n : x & ((1n << 64n) - 1n)
}

/** Header fields: [offset, bytes] (u32 BE unless noted). */
function mutateHeader(b: Buffer, r: Rng): string {
  if (b.length < 12288) return flipBits(b, r)
  const k = int(r, 10)
  let what: string
  if (k === 0) {
    b.write(pick(r, ['VMA\0', 'VMAE', 'vma\0', '\0\0\0\0']), 0, 'latin1')
    what = 'magic'
  } else if (k === 1) {
    b.writeUInt32BE(pick(r, [0, 2, 0xffffffff, 0x01000000]), 4)
    what = 'version'
  } else if (k === 2) {
    b[8 + int(r, 16)]! ^= 1 + int(r, 255)
    what = 'uuid'
  } else if (k === 3) {
    b.writeBigInt64BE(pick(r, [0n, -1n, 1n << 62n, -(1n << 62n), BigInt(int(r, 2 ** 31))]), 24)
    what = 'ctime'
  } else if (k <= 6) {
    const off = pick(r, [48, 52, 56])
    b.writeUInt32BE(interesting32(r, b.readUInt32BE(off), b.length), off)
    what = `field@${off}`
  } else if (k === 7) {
    const slot = int(r, 256)
    const off = pick(r, [2044, 3068]) + 4 * (int(r, 3) === 0 ? slot : int(r, 3))
    b.writeUInt32BE(interesting32(r, b.readUInt32BE(off), 4096), off)
    what = `config pointer@${off}`
  } else {
    const id = int(r, 4) === 0 ? int(r, 256) : 1 + int(r, 3)
    const rec = 4096 + 32 * id
    if (r() < 0.5) {
      b.writeUInt32BE(interesting32(r, b.readUInt32BE(rec), 4096), rec)
      what = `device ${id} name pointer`
    } else {
      b.writeBigUInt64BE(interestingSize(r, b.readBigUInt64BE(rec + 8)), rec + 8)
      what = `device ${id} size`
    }
  }
  if (r() < 0.85) fixHeaderMd5(b)
  return `header ${what}`
}

/** The blob table: lengths, name bytes, whole names. */
function mutateBlobs(b: Buffer, r: Rng): string {
  if (b.length < 12288) return flipBits(b, r)
  const start = b.readUInt32BE(48)
  const size = b.readUInt32BE(52)
  if (start < 12288 || start + size > b.length || size < 2) return mutateHeader(b, r)
  const at = start + 1 + int(r, size - 1)
  const k = int(r, 3)
  let what: string
  if (k === 0) {
    b.writeUInt16LE(pick(r, [0, 1, 2, 7, 8, 0xffff, int(r, 65536)]), Math.min(at, start + size - 2))
    what = 'length'
  } else if (k === 1) {
    b[at] = pick(r, [0x2f, 0x20, 0x2e, 0x00, 0xff, 0x0a, 0x3a, 0x3d, 0x2c])
    what = 'byte'
  } else {
    // A whole device name replaced by another of the same length when one fits.
    const names = ['vmstate', '../../x', 'drive-scsi0', 'a b c d', 'drive-efidisk0']
    const name = pick(r, names)
    b.write(name, at, Math.min(name.length, start + size - at), 'latin1')
    what = `name ${JSON.stringify(name)}`
  }
  if (r() < 0.9) fixHeaderMd5(b)
  return `blob table ${what}`
}

/** An extent header: magic, reserved, block count, uuid, or a blockinfo (mask, device, cluster). */
function mutateExtent(b: Buffer, r: Rng): { bytes: Buffer; what: string } {
  const ext = extentOffsets(b)
  if (ext.length === 0) return { bytes: b, what: mutateHeader(b, r) }
  const off = pick(r, ext)
  const k = int(r, 8)
  let what: string
  if (k === 0) {
    b.write(pick(r, ['VMA\0', 'VMAF', '\0\0\0\0']), off, 'latin1')
    what = 'magic'
  } else if (k === 1) {
    b.writeUInt16BE(pick(r, [1, 0xffff, int(r, 65536)]), off + 4)
    what = 'reserved'
  } else if (k === 2) {
    const n = b.readUInt16BE(off + 6)
    b.writeUInt16BE(pick(r, [0, n + 1, n - 1, n + 16, 0xffff]) & 0xffff, off + 6)
    what = 'block count'
  } else if (k === 3) {
    b[off + 8 + int(r, 16)]! ^= 0x40
    what = 'uuid'
  } else {
    const slot = int(r, 4) === 0 ? int(r, 59) : int(r, 8)
    const at = off + 40 + 8 * slot
    const field = int(r, 3)
    if (field === 0) {
      const old = b.readUInt16BE(at)
      b.writeUInt16BE(pick(r, [0, 0xffff, old ^ (1 << int(r, 16)), int(r, 65536)]), at)
      what = `slot ${slot} mask`
      // Keep the accounting right half of the time so the mask itself is judged.
      if (r() < 0.5) return { bytes: resizeData(b, off), what: `extent@${off} ${what}, data resized to match` }
    } else if (field === 1) {
      b[at + 3] = pick(r, [0, 1, 2, 3, 4, 254, 255, int(r, 256)])
      what = `slot ${slot} device`
    } else {
      const old = b.readUInt32BE(at + 4)
      const other = b.readUInt32BE(off + 40 + 8 * int(r, 59))
      b.writeUInt32BE(pick(r, [0, old + 1, old - 1, other, 0xffffffff, 1 << 20, int(r, 200)]) >>> 0, at + 4)
      what = `slot ${slot} cluster`
    }
  }
  if (r() < 0.85) fixExtentMd5(b, off)
  return { bytes: b, what: `extent@${off} ${what}` }
}

/**
 * After a mask change: the extent's block count and data made to match its
 * masks again (blocks added at the end hold a pattern, surplus ones are cut),
 * md5 fixed, so the readers judge the mask itself.
 */
function resizeData(b: Buffer, off: number): Buffer {
  let blocks = 0
  for (let s = 0; s < 59; s++) {
    const at = off + 40 + 8 * s
    if (b[at + 3] === 0) continue
    let m = b.readUInt16BE(at)
    while (m) {
      blocks += m & 1
      m >>>= 1
    }
  }
  const old = b.readUInt16BE(off + 6)
  const dataEnd = Math.min(b.length, off + 512 + old * 4096)
  let data = b.subarray(off + 512, dataEnd)
  if (blocks * 4096 < data.length) data = data.subarray(0, blocks * 4096)
  else if (blocks * 4096 > data.length) data = Buffer.concat([data, Buffer.alloc(blocks * 4096 - data.length, 0x5a)])
  const head = Buffer.from(b.subarray(off, off + 512))
  head.writeUInt16BE(blocks, 6)
  fixExtentMd5(head, 0)
  return Buffer.concat([b.subarray(0, off), head, data, b.subarray(dataEnd)])
}

export function flipBits(b: Buffer, r: Rng): string {
  if (b.length === 0) return 'nothing to flip'
  const n = 1 + int(r, 8)
  const where = int(r, 3)
  const ext = extentOffsets(b)
  const hs = headerSizeOf(b)
  const spots: number[] = []
  for (let i = 0; i < n; i++) {
    let pos: number
    if (where === 0) pos = int(r, Math.max(1, hs))
    else if (where === 1 && ext.length) pos = pick(r, ext) + int(r, 512)
    else pos = int(r, b.length)
    pos = Math.min(pos, b.length - 1)
    b[pos]! ^= 1 << int(r, 8)
    spots.push(pos)
  }
  return `flipped bits at ${spots.join(',')}`
}

export function truncate(b: Buffer, r: Rng): { bytes: Buffer; what: string } {
  const ext = extentOffsets(b)
  let at: number
  const k = int(r, 3)
  if (k === 0 && ext.length) at = pick(r, ext) + pick(r, [0, 1, 511, 512, 513, 4096])
  else if (k === 1) at = int(r, Math.min(b.length, 16384))
  else at = int(r, b.length)
  at = Math.min(at, b.length)
  return { bytes: b.subarray(0, at), what: `truncated at ${at}` }
}

/** Copies a range of `donor` (maybe the same archive) over or into `b`. */
export function splice(b: Buffer, donor: Buffer, r: Rng): { bytes: Buffer; what: string } {
  if (b.length === 0 || donor.length === 0) return { bytes: b, what: 'empty splice' }
  const ext = extentOffsets(donor)
  const fromExtent = ext.length > 0 && r() < 0.5
  const from = fromExtent ? pick(r, ext) : int(r, donor.length)
  const len = Math.min(donor.length - from, fromExtent ? 512 + donor.readUInt16BE(from + 6) * 4096 : 1 + int(r, 70000))
  const target = extentOffsets(b)
  const to = target.length && r() < 0.6 ? pick(r, target) : int(r, b.length)
  const piece = donor.subarray(from, from + len)
  if (r() < 0.5) {
    const out = Buffer.from(b)
    piece.copy(out, to)
    return { bytes: out, what: `overwrote ${len} bytes at ${to} with bytes from ${from}` }
  }
  return { bytes: Buffer.concat([b.subarray(0, to), piece, b.subarray(to)]), what: `inserted ${len} bytes at ${to} from ${from}` }
}

/** Whole extents dropped, doubled or swapped (each stays intact). */
export function shuffleExtents(b: Buffer, r: Rng): { bytes: Buffer; what: string } {
  const ext = extentOffsets(b)
  if (ext.length === 0) return { bytes: b, what: 'no extents' }
  const ends = ext.map((o, i) => ext[i + 1] ?? o + 512 + b.readUInt16BE(o + 6) * 4096)
  const pieces = ext.map((o, i) => b.subarray(o, Math.min(ends[i]!, b.length)))
  const head = b.subarray(0, ext[0]!)
  const tail = b.subarray(Math.min(ends[ends.length - 1]!, b.length))
  const i = int(r, pieces.length)
  const k = int(r, 3)
  let what: string
  if (k === 0) {
    pieces.splice(i, 1)
    what = `dropped extent ${i}`
  } else if (k === 1) {
    pieces.splice(i, 0, pieces[i]!)
    what = `doubled extent ${i}`
  } else {
    const j = int(r, pieces.length)
    ;[pieces[i], pieces[j]] = [pieces[j]!, pieces[i]!]
    what = `swapped extents ${i} and ${j}`
  }
  return { bytes: Buffer.concat([head, ...pieces, tail]), what }
}

/** One to three mutations of a plain archive. */
export function mutatePlain(src: Buffer, donor: Buffer, r: Rng): { bytes: Buffer; what: string[] } {
  let b: Buffer = Buffer.from(src)
  const what: string[] = []
  const n = 1 + (r() < 0.3 ? int(r, 3) : 0)
  for (let i = 0; i < n; i++) {
    const k = int(r, 100)
    if (k < 20) what.push(flipBits(b, r))
    else if (k < 35) what.push(mutateHeader(b, r))
    else if (k < 45) what.push(mutateBlobs(b, r))
    else if (k < 70) ({ bytes: b, what: what[what.length] } = mutateExtent(b, r))
    else if (k < 80) ({ bytes: b, what: what[what.length] } = truncate(b, r))
    else if (k < 90) ({ bytes: b, what: what[what.length] } = splice(b, r() < 0.5 ? b : donor, r))
    else ({ bytes: b, what: what[what.length] } = shuffleExtents(b, r))
    b = Buffer.from(b)
  }
  return { bytes: b, what }
}

/** Blind damage to a compressed file: flips or a truncation. */
export function mutateCompressed(src: Buffer, r: Rng): { bytes: Buffer; what: string[] } {
  const b = Buffer.from(src)
  if (r() < 0.4) {
    const { bytes, what } = truncate(b, r)
    return { bytes, what: [`compressed: ${what}`] }
  }
  const n = 1 + int(r, 4)
  const spots: number[] = []
  for (let i = 0; i < n; i++) {
    const pos = r() < 0.3 ? int(r, Math.min(64, b.length)) : int(r, b.length)
    b[pos]! ^= 1 << int(r, 8)
    spots.push(pos)
  }
  return { bytes: b, what: [`compressed: flipped bits at ${spots.join(',')}`] }
}
