// The mask walks of format/block-mask against the spec's plain reading of a
// block mask (bit j set: block j is the next 4 KiB of stored data), with
// random masks, contents and chunk boundaries.

import { randomBytes, randomInt } from 'node:crypto'
import t from 'tap'
import { ClusterAssembly, expandCluster, nthSetBit, packCluster, packNonZeroBlocks } from '../src/format/block-mask.js'

const B = 4096
const C = 65536

/** The spec's reading, block by block, written independently of the code under test. */
function naiveExpand(stored: Buffer, mask: number): Buffer {
  const out = Buffer.alloc(C)
  let k = 0
  for (let j = 0; j < 16; j++) if ((mask >> j) & 1) stored.copy(out, j * B, B * k, B * ++k)
  return out
}

const masks = [0, 1, 0x8000, 0xffff, 0x5555, 0xaaaa, ...Array.from({ length: 40 }, () => randomInt(0, 0x10000))]

t.test('expandCluster puts each stored block at its place and zeros the rest, at any offsets', async t => {
  for (const mask of masks) {
    const n = popcount(mask)
    const stored = randomBytes(n * B + 100)
    const out = Buffer.alloc(C + 300, 0xee) // dirty: absent blocks must be zeroed, not left
    const used = expandCluster(stored, 100, mask, out, 200)
    t.equal(used, n * B, `mask ${mask.toString(16)}: bytes consumed`)
    t.ok(out.subarray(200, 200 + C).equals(naiveExpand(stored.subarray(100), mask)), `mask ${mask.toString(16)}: contents`)
    t.ok(out.subarray(0, 200).every(b => b === 0xee) && out.subarray(200 + C).every(b => b === 0xee), 'nothing outside the cluster touched')
  }
})

t.test('packCluster is expandCluster backwards', async t => {
  for (const mask of masks) {
    const full = randomBytes(C)
    const stored = Buffer.alloc(popcount(mask) * B)
    packCluster(full, 0, mask, stored, 0)
    const back = naiveExpand(stored, mask)
    for (let j = 0; j < 16; j++) {
      const want = (mask >> j) & 1 ? full.subarray(j * B, (j + 1) * B) : Buffer.alloc(B)
      if (!back.subarray(j * B, (j + 1) * B).equals(want)) t.fail(`mask ${mask.toString(16)} block ${j}`)
    }
  }
  t.pass('every block of every mask')
})

t.test('packNonZeroBlocks keeps exactly the non-zero blocks', async t => {
  for (const shape of masks) {
    const full = Buffer.alloc(C)
    // A block that differs from zero in a single byte (first, last or middle) is still data.
    for (let j = 0; j < 16; j++) if ((shape >> j) & 1) full[j * B + [0, B - 1, 2048][j % 3]!] = 1 + (j % 255)
    const out = Buffer.alloc(C)
    const mask = packNonZeroBlocks(full, 0, out, 0)
    t.equal(mask, shape, `shape ${shape.toString(16)}`)
    t.ok(naiveExpand(out, mask).equals(full), 'expands back to the cluster')
  }
})

t.test('ClusterAssembly gives the expanded cluster whatever the chunk boundaries', async t => {
  const a = new ClusterAssembly()
  for (const mask of masks) {
    const stored = randomBytes(popcount(mask) * B)
    a.buf.fill(0xee) // start must zero what the last cluster left
    a.start(mask)
    for (let p = 0; p < stored.length; ) {
      const n = Math.min(stored.length - p, randomInt(1, 9000))
      a.add(stored.subarray(p, p + n))
      p += n
    }
    t.ok(a.buf.equals(naiveExpand(stored, mask)), `mask ${mask.toString(16)}`)
  }
  a.start(0x0001)
  t.throws(() => a.add(Buffer.alloc(B + 1)), RangeError, 'more data than the mask allows')
})

t.test('nthSetBit', async t => {
  t.equal(nthSetBit(0b1010_0000_0000_0001, 0), 0)
  t.equal(nthSetBit(0b1010_0000_0000_0001, 1), 13)
  t.equal(nthSetBit(0b1010_0000_0000_0001, 2), 15)
  t.throws(() => nthSetBit(0b1010_0000_0000_0001, 3), RangeError)
  t.throws(() => nthSetBit(0, 0), RangeError)
})

function popcount(m: number): number {
  let n = 0
  for (; m; m &= m - 1) n++
  return n
}
