// zstd decoded in process by libzstd (src/input/libzstd.ts): the same bytes
// as the zstd program for whatever frames it wrote, fed at any chunk
// boundary; one reused output buffer; every kind of damage refused as the
// program refuses it; a window over the bound refused before it is
// allocated; and a few KiB that stand for GiBs of zeros do not stall the
// event loop.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeContent, makeVma } from './fixtures/make-vma.js'
import { openInput } from '../src/input/archive-input.js'
import { WINDOW_LOG_MAX, libzstdDecode } from '../src/input/libzstd.js'
import { libzstd, libzstdMissing } from '../src/util/libzstd.js'
import { VmaError } from '../src/util/errors.js'
import { BIN, cliEnv } from './helpers.js'

const MiB = 1 << 20
const haveZstd = spawnSync('zstd', ['--version']).status === 0
const skip = !libzstd() ? `the zstd-napi binding did not load: ${libzstdMissing()}` : !haveZstd ? 'needs the zstd program (to write the test streams)' : false

const zstd = (args: string[], input: Uint8Array): Buffer => {
  const r = spawnSync('zstd', ['-q', '-c', ...args], { input, maxBuffer: 1 << 30 })
  if (r.status !== 0) throw new Error(`zstd ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}
/** What the zstd program makes of `z`: its output, or undefined when it refuses. */
const programDecodes = (z: Uint8Array): Buffer | undefined => {
  const r = spawnSync('zstd', ['-q', '-d', '-c'], { input: z, maxBuffer: 1 << 30 })
  return r.status === 0 ? r.stdout : undefined
}

/** `bytes` as an async iterable of pieces of sizes from `sizes`, round and round. */
async function* pieces(bytes: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length]!
    yield bytes.subarray(at, at + n)
    at += n
  }
}

async function decodeAll(src: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Buffer[] = []
  for await (const c of libzstdDecode(src, 'test.zst')) out.push(Buffer.from(c)) // copied: the buffer is reused
  return Buffer.concat(out)
}

async function failure(p: Promise<unknown>): Promise<VmaError> {
  try {
    await p
  } catch (e) {
    return e as VmaError
  }
  throw new Error('decoded without complaint')
}

t.test('the same bytes as the zstd program, for every frame layout and any chunk boundary', { skip }, async t => {
  const a = makeContent(3 * MiB + 4097, 1)
  const b = makeContent(2 * MiB, 2)
  const skippable = Buffer.alloc(8 + 100, 7)
  skippable.writeUInt32LE(0x184d2a53, 0)
  skippable.writeUInt32LE(100, 4)
  const streams: [string, Buffer, Buffer][] = [
    ['one frame', zstd(['-3'], a), a],
    ['rsyncable, threaded', zstd(['--rsyncable', '-T2'], a), a],
    ['no checksum', zstd(['--no-check'], a), a],
    ['two frames and a skippable one between', Buffer.concat([zstd(['-1'], a), skippable, zstd(['-19'], b)]), Buffer.concat([a, b])],
    ['an empty frame', zstd([], new Uint8Array(0)), Buffer.alloc(0)],
  ]
  for (const [what, z, plain] of streams) {
    t.ok(programDecodes(z)?.equals(plain), `${what}: the program's reference`)
    for (const sizes of [[z.length], [1, 2, 3, 5, 8, 13], [4096, 17, 65536]]) {
      const got = await decodeAll(pieces(z, sizes))
      t.ok(got.equals(plain), `${what}, pieces of ${sizes.join(',')} bytes`)
    }
  }
})

t.test('an archive read through openInput comes in one reused buffer, equal to the plain file', { skip }, async t => {
  const dir = t.testdir()
  const { buf } = makeVma({ devices: [{ name: 'drive-scsi0', size: 8 * MiB }, { name: 'drive-scsi1', size: 3 * MiB }] })
  writeFileSync(join(dir, 'a.vma.zst'), zstd([], buf))
  const input = await openInput(join(dir, 'a.vma.zst'))
  t.equal(input.decoder, 'libzstd')
  const memories = new Set<ArrayBufferLike>()
  const got: Buffer[] = []
  for await (const c of input.chunks()) {
    memories.add(c.buffer)
    got.push(Buffer.from(c))
  }
  await input.close()
  t.ok(Buffer.concat(got).equals(buf), 'every byte')
  t.equal(memories.size, 1, 'one output buffer')
})

t.test('damage is refused, with the offset, wherever the program refuses it', { skip }, async t => {
  const plain = makeContent(2 * MiB, 3)
  const z = zstd(['-1'], plain)
  // Stored content is taken as it is: only the content checksum catches a change in it.
  // Random bytes do not compress: zstd stores them as raw blocks.
  const raw = zstd(['-1'], randomBytes(300_000))
  const flipped = Buffer.from(raw)
  flipped[flipped.length >> 1]! ^= 0x10
  const cases: [string, Buffer][] = [
    ['cut inside the first block', z.subarray(0, 1000)],
    ['cut before the checksum', z.subarray(0, z.length - 2)],
    ['a flipped byte in a stored block (only the checksum sees it)', flipped],
    ['garbage after the frame', Buffer.concat([z, Buffer.from('not a frame at all')])],
    ['a bad block type', (() => {
      const b = Buffer.from(z)
      const hdr = 6 // magic (4), frame header descriptor and window (2): the first block header follows
      b[hdr]! |= 0x06 // block type 3: reserved
      return b
    })()],
  ]
  for (const [what, bad] of cases) {
    t.equal(programDecodes(bad), undefined, `${what}: the zstd program refuses it`)
    const e = await failure(decodeAll(pieces(bad, [65536])))
    t.equal(e.code, 'VMA_COMPRESSION_CORRUPT', what)
    t.equal(e.file, 'test.zst', `${what}: names the file`)
    t.match(e.message, /^zstd data is corrupt (at|near) compressed offset \d+: /, `${what}: ${e.message}`)
  }
})

t.test(`a window over 2^${WINDOW_LOG_MAX} is refused before anything is allocated, as the program refuses it`, { skip }, async t => {
  // From stdin zstd cannot know the size, so the frame asks for the whole --long window.
  const big = zstd(['--long=28'], makeContent(1 * MiB, 4))
  t.equal(programDecodes(big), undefined, 'the program refuses it without --memory')
  const e = await failure(decodeAll(pieces(big, [big.length])))
  t.equal(e.code, 'VMA_COMPRESSION_CORRUPT')
  t.match(e.message, /compressed offset 0: .*(window|memory)/i)
  const fits = zstd(['--long=27'], makeContent(1 * MiB, 4))
  t.ok((await decodeAll(pieces(fits, [fits.length]))).equals(makeContent(1 * MiB, 4)), '2^27 itself is decoded')
})

t.test('GiBs of zeros from a few KiB give the event loop its turns', { skip }, async t => {
  const size = 512 * MiB
  const z = zstd(['-1'], Buffer.alloc(size))
  t.ok(z.length < 64 * 1024, `${z.length} compressed bytes`)
  let turns = 0
  let running = true
  const tick = () => {
    turns++
    if (running) setImmediate(tick)
  }
  setImmediate(tick)
  let bytes = 0
  for await (const c of libzstdDecode(pieces(z, [z.length]), 'zeros.zst')) bytes += c.length
  running = false
  t.equal(bytes, size)
  t.ok(turns >= 6, `${turns} turns of the event loop during one input chunk`)
})

t.test('VMA_OPT_ZSTD_DECODER picks the decoder, and a wrong value is a usage error', { skip }, async t => {
  const dir = t.testdir()
  const { buf } = makeVma({ devices: [{ name: 'drive-scsi0', size: 4 * MiB }] })
  writeFileSync(join(dir, 'a.vma.zst'), zstd([], buf))
  const digests = new Set<string>()
  for (const decoder of ['library', 'program', 'fzstd']) {
    const r = spawnSync(BIN, ['verify', '--data', '--json', join(dir, 'a.vma.zst')], { env: cliEnv({ VMA_OPT_ZSTD_DECODER: decoder }), encoding: 'utf8' })
    t.equal(r.status, 0, `${decoder}: ${r.stderr}`)
    digests.add(JSON.stringify(JSON.parse(r.stdout).devices))
  }
  t.equal(digests.size, 1, 'all three decoders give the same digests')
  const bad = spawnSync(BIN, ['verify', join(dir, 'a.vma.zst')], { env: cliEnv({ VMA_OPT_ZSTD_DECODER: 'fast' }), encoding: 'utf8' })
  t.equal(bad.status, 2)
  t.match(bad.stderr, /^vma-opt: .*VMA_OPT_ZSTD_DECODER must be library, program or fzstd, not "fast" \(VMA_USAGE\)\n$/)
  t.ok(readFileSync(join(dir, 'a.vma.zst')).length > 0)
})

t.test('a spool is written the same by libzstd as by the zstd program', { skip }, async t => {
  const dir = t.testdir()
  const devices = Array.from({ length: 3 }, (_, i) => ({ name: `drive-scsi${i}`, size: 2 * MiB + i * 4096 }))
  const { buf } = makeVma({ devices, order: 'interleaved', seed: 4 })
  writeFileSync(join(dir, 'a.vma.zst'), zstd([], buf))
  const outs: Buffer[] = []
  for (const decoder of ['library', 'program']) {
    const out = join(dir, `out-${decoder}.vma`)
    const r = spawnSync(BIN, ['optimize', '--spool', '--tmpdir', dir, join(dir, 'a.vma.zst'), out], { env: cliEnv({ VMA_OPT_ZSTD_DECODER: decoder }), encoding: 'utf8' })
    t.equal(r.status, 0, `${decoder}: ${r.stderr}`)
    outs.push(readFileSync(out))
  }
  t.ok(outs[0]!.equals(outs[1]!), 'the same optimized archive')
  t.same(readdirSync(dir).sort(), ['a.vma.zst', 'out-library.vma', 'out-program.vma'], 'no spool left')
})
