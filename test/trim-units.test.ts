// Small pieces of the trim checked against independent definitions: CRC test
// vectors, range arithmetic, and the zeroer in any call order and buffer size
// (linear and striped pieces) against the free ranges it reports.
import t from 'tap'
import { crc32cRaw } from '../src/trim/bytes/crc32c.js'
import { crc16Raw } from '../src/trim/bytes/crc16.js'
import { lvmCrc, crc32Ieee } from '../src/trim/bytes/crc32.js'
import { subtractRanges, mergeRanges } from '../src/trim/ranges.js'
import { newAllocationMap, setUsed, countFreeUnits } from '../src/trim/allocation-map.js'
import { makeZeroer, freeDeviceRanges, type MappedPiece } from '../src/trim/zeroer.js'

const CHECK = Buffer.from('123456789')

t.test('CRC vectors', async t => {
  t.equal(~crc32cRaw(0xffffffff, CHECK) >>> 0, 0xe3069283, 'CRC-32C check value')
  t.equal(crc16Raw(0xffff, CHECK), 0x4b37, 'CRC-16 (0x8005 reflected, init 0xFFFF) = CRC-16/MODBUS check value')
  t.equal(crc16Raw(0, CHECK), 0xbb3d, 'CRC-16/ARC check value')
  t.equal(crc32Ieee(CHECK), 0xcbf43926, 'CRC-32 check value')
  // lvm2's calc_crc: bitwise reflected IEEE CRC-32 from 0xF597A6CF, no final inversion
  let c = 0xf597a6cf
  for (const b of CHECK) {
    c ^= b
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1
  }
  t.equal(lvmCrc(CHECK), c >>> 0, 'LVM CRC equals the bitwise definition')
})

t.test('ranges', async t => {
  t.same(
    mergeRanges([
      [10, 5],
      [0, 3],
      [3, 2],
      [14, 10],
    ]),
    [
      [0, 5],
      [10, 14],
    ],
  )
  t.same(
    subtractRanges(
      [
        [0, 100],
        [200, 50],
      ],
      [
        [10, 10],
        [90, 120],
        [240, 5],
      ],
    ),
    [
      [0, 10],
      [20, 70],
      [210, 30],
      [245, 5],
    ],
  )
  t.same(subtractRanges([[0, 10]], []), [[0, 10]])
  t.same(
    subtractRanges(
      [
        [0, 10],
        [20, 10],
      ],
      [[0, 40]],
    ),
    [],
  )
})

/** A random map and pieces: a linear volume at an odd offset, and a 3-way striped one. */
function fixture(seed: number): { pieces: MappedPiece[]; size: number } {
  let s = seed
  const rnd = (n: number): number => {
    s = (s * 1103515245 + 12345) & 0x7fffffff
    return s % n
  }
  const linMap = newAllocationMap(1024, 1024, 3000)
  for (let i = 0; i < 3000; i++) if (rnd(3) === 0) setUsed(linMap, i)
  const lin: MappedPiece = { disk: 'd', devStart: 2049 * 512, length: 3001 * 1024, volOffset: 0, chunk: 3001 * 1024, stride: 3001 * 1024, map: linMap }
  const chunk = 64 * 1024
  const stMap = newAllocationMap(4096, 0, (3 * 8 * chunk) / 4096)
  for (let i = 0; i < stMap.units; i++) if (rnd(2) === 0) setUsed(stMap, i)
  const base = 8 << 20
  const legs: MappedPiece[] = [0, 1, 2].map(i => ({
    disk: 'd',
    devStart: base + i * (1 << 20),
    length: 8 * chunk,
    volOffset: i * chunk,
    chunk,
    stride: 3 * chunk,
    map: stMap,
  }))
  return { pieces: [lin, ...legs], size: 12 << 20 }
}

t.test('zeroer: any order and size gives exactly the free ranges', async t => {
  for (const seed of [1, 2]) {
    const { pieces, size } = fixture(seed)
    const ranges = [...freeDeviceRanges(pieces)]
    const expected = Buffer.alloc(size, 0xaa)
    for (const [o, n] of ranges) expected.fill(0, o, o + n)
    const total = ranges.reduce((a, r) => a + r[1], 0)
    const lin = pieces[0]!.map
    const st = pieces[1]!.map
    t.equal(total, countFreeUnits(lin) * lin.unit + countFreeUnits(st) * st.unit, "free ranges add up to the maps' free units")
    const z = makeZeroer(pieces)
    for (const step of [65536, 4096, 1000, 777777]) {
      const img = Buffer.alloc(size, 0xaa)
      const offsets: number[] = []
      for (let o = 0; o < size; o += step) offsets.push(o)
      offsets.reverse()
      if (step === 1000) offsets.sort((a, b) => ((a * 7919) % 1009) - ((b * 7919) % 1009))
      let zeroed = 0
      for (const o of offsets) zeroed += z.apply(o, img.subarray(o, Math.min(size, o + step)))
      t.ok(img.equals(expected), `seed ${seed}, ${step}-byte buffers out of order: same bytes zeroed`)
      t.equal(zeroed, total, 'apply reports every byte it zeroed')
    }
    t.ok(
      ranges.every(([o], i) => i === 0 || o > ranges[i - 1]![0] + ranges[i - 1]![1]),
      'ranges sorted and merged',
    )
    t.ok(ranges[0]![0] >= 2049 * 512 + 1024, "nothing before the linear volume's first unit")
  }
})
