// optimize of a compressed file that is not optimized yet checks it and
// writes it from one reading (src/optimize/checking-reader.ts): the device
// being written comes straight from the check's pass, later ones are held up
// to a bound, and what is dropped is read again or spooled afterwards. Every
// way must write exactly the spec's optimized form, take the way its trace
// says, fail on damage exactly as checking first does, and leave no file.

import t from 'tap'
import { skipHere } from './tools.js'
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expectedOptimized, makeContent, makeVma, type DeviceSpec } from './fixtures/make-vma.js'
import { VmaError } from '../src/util/errors.js'
import { haveTool } from './tools.js'

// optimize reads VMA_OPT_TRACE when it loads: set it first, then import.
process.env.VMA_OPT_TRACE = '1'
const { optimize } = await import('../src/optimize/optimize.js')

const KiB = 1024
const MiB = 1 << 20
const have = haveTool
const withData = (devs: { name: string; size: number }[], seed = 1): DeviceSpec[] => devs.map((d, i) => ({ ...d, data: makeContent(d.size, seed * 100 + i) }))
const files = (dir: string) => readdirSync(dir).sort()

/** Runs `fn` with stderr captured: optimize's trace lines. */
async function traced<T>(fn: () => Promise<T>): Promise<{ result?: T; error?: unknown; trace: string }> {
  const write = process.stderr.write
  let trace = ''
  process.stderr.write = ((c: string | Uint8Array) => {
    trace += c.toString()
    return true
  }) as typeof process.stderr.write
  try {
    return { result: await fn(), trace }
  } catch (error) {
    return { error, trace }
  } finally {
    process.stderr.write = write
  }
}

const usualVm = withData([
  { name: 'drive-efidisk0', size: 540672 },
  { name: 'drive-scsi0', size: 6 * MiB + 3 * 4096 + 512 },
  { name: 'drive-scsi1', size: 2 * MiB },
])

t.test('one reading, held, reread or spooled: always the optimized form', { skip: have('zstd') ? false : 'needs the zstd program' }, async t => {
  const dir = t.testdir()
  const cases: [string, DeviceSpec[], Parameters<typeof makeVma>[0], number | undefined, RegExp, RegExp | undefined][] = [
    // Everything fits the hold: no second reading at all.
    ['a usual VM, all held', usualVm, { order: 'interleaved', seed: 3 }, undefined, /the check's reading feeds pass 2/, /reads the input again|spools/],
    // The hold cannot keep scsi1 while scsi0 is written: scsi1 is read again.
    ['two disks, scsi1 read again', usualVm.slice(1), { order: 'interleaved', seed: 3 }, 512 * KiB, /reads the input again for drive-scsi1 /, /spools/],
    // Its own clusters come too far out of order: dropped part-way, spooled.
    ['one shuffled disk', withData([{ name: 'drive-scsi0', size: 4 * MiB }], 2), { order: 'shuffled', seed: 9 }, 256 * KiB, /spools the input for drive-scsi0/, /reads the input again/],
    [
      'zero blocks stored, shuffled',
      withData(
        [
          { name: 'drive-virtio0', size: 3 * MiB },
          { name: 'drive-virtio1', size: MiB },
        ],
        4,
      ),
      { order: 'shuffled', seed: 5, storeZeroBlocks: true },
      128 * KiB,
      /spools/,
      undefined,
    ],
  ]
  for (const [label, devices, o, holdLimit, want, notWant] of cases) {
    const src = join(dir, 'in.vma')
    writeFileSync(src, makeVma({ ...o, devices }).buf)
    t.equal(spawnSync('zstd', ['-q', '-f', '--rm', src]).status, 0)
    const dest = join(dir, 'out.vma')
    const { result, error, trace } = await traced(() => optimize(`${src}.zst`, { dest, force: true, tmpdir: dir, holdLimit }))
    t.error(error, `${label}: no error`)
    t.match(trace, want, `${label}: the way taken`)
    if (notWant) t.notMatch(trace, notWant, `${label}: and no other`)
    t.ok(readFileSync(dest).equals(expectedOptimized({ devices })), `${label}: the spec's optimized form`)
    t.equal(result?.devices.length, devices.length, `${label}: every device's digest reported`)
    t.equal(result?.checked, true, `${label}: proven`)
    t.same(files(dir), ['in.vma.zst', 'out.vma'], `${label}: no spool or temp file left`)
  }
})

t.test('.zst to .zst: the same archive as checking first, then writing', { skip: have('zstd') ? false : 'needs the zstd program' }, async t => {
  const dir = t.testdir()
  const src = join(dir, 'in.vma')
  writeFileSync(src, makeVma({ devices: usualVm, order: 'interleaved', seed: 8 }).buf)
  t.equal(spawnSync('zstd', ['-q', '--rm', src]).status, 0)
  const one = await traced(() => optimize(`${src}.zst`, { dest: join(dir, 'one.vma.zst'), holdLimit: MiB }))
  t.match(one.trace, /the check's reading feeds pass 2/)
  await optimize(`${src}.zst`, { dest: join(dir, 'two.vma.zst'), noOverlap: true })
  t.ok(readFileSync(join(dir, 'one.vma.zst')).equals(readFileSync(join(dir, 'two.vma.zst'))), 'identical .zst files')
})

t.test('gzip and lzop input take the one reading too', async t => {
  const dir = t.testdir()
  for (const [ext, tool, args] of [
    ['gz', 'gzip', ['-n', '-q']],
    ['lzo', 'lzop', ['-q', '-U']],
  ] as const) {
    if (!have(tool)) {
      skipHere(t, `.${ext}: needs the ${tool} program`)
      continue
    }
    const src = join(dir, `in-${ext}.vma`)
    writeFileSync(src, makeVma({ devices: usualVm, order: 'interleaved', seed: 6 }).buf)
    t.equal(spawnSync(tool, [...args, src]).status, 0, `${tool} made the input`)
    const dest = join(dir, `out-${ext}.vma`)
    const { error, trace } = await traced(() => optimize(`${src}.${ext}`, { dest, holdLimit: MiB }))
    t.error(error)
    t.match(trace, /the check's reading feeds pass 2/, `.${ext}: one reading`)
    t.ok(readFileSync(dest).equals(expectedOptimized({ devices: usualVm })), `.${ext}: the optimized form`)
  }
})

t.test('where one reading does not apply, the passes run one after the other', { skip: have('zstd') ? false : 'needs the zstd program' }, async t => {
  const dir = t.testdir()
  // Already optimized: pass 1 finds it so and nothing is written in place.
  const src = join(dir, 'a.vma')
  writeFileSync(src, makeVma({ devices: usualVm, order: 'interleaved', seed: 1 }).buf)
  t.equal(spawnSync('zstd', ['-q', '--rm', src]).status, 0)
  await optimize(`${src}.zst`)
  const again = await traced(() => optimize(`${src}.zst`))
  t.notMatch(again.trace, /feeds pass 2/, 'an optimized input (fixed uuid) is checked first')
  t.equal(again.result?.written, false, 'and left alone')
  // A vmstate stream's length is known only at the end of the reading.
  const vm = join(dir, 'vm.vma')
  const devices = [...withData([{ name: 'drive-virtio0', size: 2 * MiB }], 3), { name: 'vmstate', size: 300000, data: makeContent(300000, 77) }]
  writeFileSync(vm, makeVma({ devices, order: 'sequential' }).buf)
  t.equal(spawnSync('zstd', ['-q', '--rm', vm]).status, 0)
  const withState = await traced(() => optimize(`${vm}.zst`, { dest: join(dir, 'vm-out.vma') }))
  t.error(withState.error)
  t.notMatch(withState.trace, /feeds pass 2/, 'a vmstate stream: checked first')
  t.ok(readFileSync(join(dir, 'vm-out.vma')).equals(expectedOptimized({ devices })), 'vmstate: the optimized form')
})

t.test('damage anywhere fails exactly as checking first does, and leaves nothing', { skip: have('zstd') ? false : 'needs the zstd program' }, async t => {
  const dir = t.testdir()
  const built = makeVma({ devices: usualVm, order: 'interleaved', seed: 2 })
  const n = built.extents.length
  const damages: [string, (b: Buffer) => Buffer][] = [
    ['an extent header early on', b => (b.writeUInt32BE(0xdeadbeef, built.extents[1]!), b)],
    ['an extent header half-way', b => (b.writeUInt32BE(0xdeadbeef, built.extents[n >> 1]!), b)],
    ['the last extent header', b => (b.writeUInt32BE(0xdeadbeef, built.extents[n - 1]!), b)],
    ['cut inside the last extent', b => b.subarray(0, b.length - 4096)],
    ['garbage after the last extent', b => Buffer.concat([b, Buffer.alloc(700, 1)])],
  ]
  for (const [label, damage] of damages) {
    const src = join(dir, 'bad.vma')
    writeFileSync(src, damage(Buffer.from(built.buf)))
    t.equal(spawnSync('zstd', ['-q', '-f', '--rm', src]).status, 0)
    const errs: VmaError[] = []
    for (const noOverlap of [false, true]) {
      const { error } = await traced(() => optimize(`${src}.zst`, { dest: join(dir, 'out.vma'), tmpdir: dir, noOverlap, holdLimit: MiB }))
      t.type(error, VmaError, `${label}, ${noOverlap ? 'checked first' : 'one reading'}: a VmaError`)
      errs.push(error as VmaError)
      t.same(files(dir), ['bad.vma.zst'], `${label}: no output, temp or spool file`)
    }
    t.equal(errs[0]?.code, errs[1]?.code, `${label}: the same error code (${errs[0]?.code})`)
    t.equal(errs[0]?.offset, errs[1]?.offset, `${label}: at the same offset`)
    t.equal(errs[0]?.file, `${src}.zst`, `${label}: names the input`)
  }
})

t.test('sparse clusters are held at what they pin (a 64 KiB buffer each), not at their stored bytes', { skip: have('zstd') ? false : 'needs the zstd program' }, async t => {
  const dir = t.testdir()
  // Two disks whose every cluster stores one 4 KiB block; all of the second comes first.
  const size = 64 * MiB
  const sparse = (seed: number) => {
    const b = Buffer.alloc(size)
    const c = makeContent(size / 16, seed)
    for (let i = 0; i < size / 65536; i++) c.copy(b, i * 65536, i * 4096, i * 4096 + 4096)
    return b
  }
  const devices: DeviceSpec[] = [
    { name: 'drive-scsi0', size, data: sparse(1) },
    { name: 'drive-scsi1', size, data: sparse(2) },
  ]
  const n = size / 65536
  const order = [...Array.from({ length: n }, (_, c) => ({ dev: 2, cluster: c })), ...Array.from({ length: n }, (_, c) => ({ dev: 1, cluster: c }))]
  const src = join(dir, 'sparse.vma')
  writeFileSync(src, makeVma({ devices, order }).buf)
  t.equal(spawnSync('zstd', ['-q', '-1', '--rm', src]).status, 0)
  // Count the 64 KiB cluster buffers made while it runs.
  const real = Buffer.allocUnsafe
  let made = 0
  Buffer.allocUnsafe = ((len: number) => {
    if (len === 65536) made++
    return real(len)
  }) as typeof Buffer.allocUnsafe
  let r
  try {
    r = await traced(() => optimize(`${src}.zst`, { dest: join(dir, 'out.vma'), tmpdir: dir }))
  } finally {
    Buffer.allocUnsafe = real
  }
  t.error(r.error)
  t.ok(readFileSync(join(dir, 'out.vma')).equals(expectedOptimized({ devices })), 'the optimized form')
  t.match(r.trace, /reads the input again for drive-scsi1/, 'scsi1 did not fit the hold: read again')
  // 1024 clusters of scsi1 store 4 MiB, which would have fit an 8 MiB limit counted in stored bytes; they pin 64 MiB.
  t.ok(made < 400, `${made} cluster buffers (${((made * 65536) / MiB).toFixed(0)} MiB), not one per held cluster`)
})

t.test('reading ahead stops at the end of the device being written (the next is not dropped for it)', { skip: have('zstd') ? false : 'needs the zstd program' }, async t => {
  const dir = t.testdir()
  const devices = withData(
    [
      { name: 'drive-scsi0', size: 24 * MiB },
      { name: 'drive-scsi1', size: 16 * MiB },
    ],
    9,
  )
  const src = join(dir, 'seq.vma')
  writeFileSync(src, makeVma({ devices, order: 'sequential' }).buf)
  t.equal(spawnSync('zstd', ['-q', '--rm', src]).status, 0)
  // To .zst: the compressor sets the pace, so the reading has every chance to run on.
  const r = await traced(() => optimize(`${src}.zst`, { dest: join(dir, 'out.vma.zst') }))
  t.error(r.error)
  t.notMatch(r.trace, /reads the input again|spools/, 'one reading: scsi1 comes after scsi0 is written')
  const plain = spawnSync('zstd', ['-d', '-c', '-q', join(dir, 'out.vma.zst')], { maxBuffer: 64 << 20 }).stdout
  t.ok(plain.equals(expectedOptimized({ devices })), 'the optimized form')
})
