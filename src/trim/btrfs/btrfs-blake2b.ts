/**
 * BLAKE2b (RFC 7693) with a 32-byte digest and no key: the checksum btrfs
 * calls "blake2" (csum_type 3). Node's crypto only has BLAKE2b-512, and the
 * digest length is a parameter of the function (it goes into the initial
 * state), so a truncated BLAKE2b-512 is not the same. 64-bit words are kept
 * as pairs of 32-bit halves (low, high) in Uint32Arrays, which wrap on
 * assignment; the state is reused across calls (one call at a time).
 */

const IV = new Uint32Array([
  0xf3bcc908, 0x6a09e667, 0x84caa73b, 0xbb67ae85, 0xfe94f82b, 0x3c6ef372, 0x5f1d36f1, 0xa54ff53a, 0xade682d1, 0x510e527f, 0x2b3e6c1f, 0x9b05688c, 0xfb41bd6b, 0x1f83d9ab, 0x137e2179, 0x5be0cd19,
])

const SIGMA = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
  [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
  [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
  [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
  [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
  [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
  [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
  [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
  [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
]
/** Message word positions (as 32-bit indices) for the 12 rounds; rounds 10 and 11 repeat 0 and 1. */
const S = Uint8Array.from([...SIGMA, SIGMA[0]!, SIGMA[1]!].flat().map(i => i * 2))

const v = new Uint32Array(32)
const m = new Uint32Array(32)
const h = new Uint32Array(16)
const block = Buffer.alloc(128)

/** v[a] += v[b] (64-bit). */
function addVV(a: number, b: number): void {
  const lo = v[a]! + v[b]!
  v[a + 1] = v[a + 1]! + v[b + 1]! + (lo >= 0x100000000 ? 1 : 0)
  v[a] = lo
}

/** v[a] += m[i] (64-bit). */
function addVM(a: number, i: number): void {
  const lo = v[a]! + m[i]!
  v[a + 1] = v[a + 1]! + m[i + 1]! + (lo >= 0x100000000 ? 1 : 0)
  v[a] = lo
}

/** The mixing function G on words a, b, c, d (32-bit indices) with message words x, y. */
function g(a: number, b: number, c: number, d: number, x: number, y: number): void {
  addVV(a, b)
  addVM(a, x)
  let lo = v[d]! ^ v[a]!
  let hi = v[d + 1]! ^ v[a + 1]!
  v[d] = hi // rotate right 32
  v[d + 1] = lo
  addVV(c, d)
  lo = v[b]! ^ v[c]!
  hi = v[b + 1]! ^ v[c + 1]!
  v[b] = (lo >>> 24) | (hi << 8) // rotate right 24
  v[b + 1] = (hi >>> 24) | (lo << 8)
  addVV(a, b)
  addVM(a, y)
  lo = v[d]! ^ v[a]!
  hi = v[d + 1]! ^ v[a + 1]!
  v[d] = (lo >>> 16) | (hi << 16) // rotate right 16
  v[d + 1] = (hi >>> 16) | (lo << 16)
  addVV(c, d)
  lo = v[b]! ^ v[c]!
  hi = v[b + 1]! ^ v[c + 1]!
  v[b] = (hi >>> 31) | (lo << 1) // rotate right 63
  v[b + 1] = (lo >>> 31) | (hi << 1)
}

function compress(bytes: number, last: boolean): void {
  for (let i = 0; i < 16; i++) {
    v[i] = h[i]!
    v[i + 16] = IV[i]!
  }
  v[24] = v[24]! ^ (bytes >>> 0)
  v[25] = v[25]! ^ Math.floor(bytes / 0x100000000)
  if (last) {
    v[28] = ~v[28]!
    v[29] = ~v[29]!
  }
  for (let i = 0; i < 32; i++) m[i] = block.readUInt32LE(i * 4)
  for (let r = 0; r < 12; r++) {
    const s = r * 16
    g(0, 8, 16, 24, S[s]!, S[s + 1]!)
    g(2, 10, 18, 26, S[s + 2]!, S[s + 3]!)
    g(4, 12, 20, 28, S[s + 4]!, S[s + 5]!)
    g(6, 14, 22, 30, S[s + 6]!, S[s + 7]!)
    g(0, 10, 20, 30, S[s + 8]!, S[s + 9]!)
    g(2, 12, 22, 24, S[s + 10]!, S[s + 11]!)
    g(4, 14, 16, 26, S[s + 12]!, S[s + 13]!)
    g(6, 8, 18, 28, S[s + 14]!, S[s + 15]!)
  }
  for (let i = 0; i < 16; i++) h[i] = h[i]! ^ v[i]! ^ v[i + 16]!
}

/** BLAKE2b-256 of data[start, end), written to out[0, 32). */
export function blake2b256(data: Uint8Array, start: number, end: number, out: Buffer): void {
  h.set(IV)
  h[0] = h[0]! ^ 0x01010000 ^ 32 // digest length 32, no key, fanout 1, depth 1
  let pos = start
  let done = 0
  while (end - pos > 128) {
    block.set(data.subarray(pos, pos + 128))
    pos += 128
    done += 128
    compress(done, false)
  }
  block.fill(0)
  block.set(data.subarray(pos, end))
  compress(done + (end - pos), true)
  for (let i = 0; i < 8; i++) out.writeUInt32LE(h[i]!, i * 4)
}
