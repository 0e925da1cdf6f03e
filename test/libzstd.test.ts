// zstd decoded in process by libzstd (src/input/libzstd.ts): the same bytes
// as the zstd program for whatever frames it wrote, fed at any chunk
// boundary; one reused output buffer; every kind of damage refused as the
// program refuses it; a window over the bound left to the program or
// refused before it is allocated; and a few KiB that stand for GiBs of zeros do not stall the
// event loop.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeContent, makeVma } from './fixtures/make-vma.js'
import { openInput } from '../src/input/archive-input.js'
import { WINDOW_LOG_MAX, libzstdDecode } from '../src/input/libzstd.js'
import { firstFrameWindow } from '../src/input/zstd-frames.js'
import { libzstd, libzstdMissing } from '../src/util/libzstd.js'
import type { VmaError } from '../src/util/errors.js'
import { BIN, cliEnv, cliInProcess } from './helpers.js'
import { haveTool } from './tools.js'

const MiB = 1 << 20
const haveZstd = haveTool('zstd')
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
  const { buf } = makeVma({
    devices: [
      { name: 'drive-scsi0', size: 8 * MiB },
      { name: 'drive-scsi1', size: 3 * MiB },
    ],
  })
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
    [
      'a bad block type',
      (() => {
        const b = Buffer.from(z)
        const hdr = 6 // magic (4), frame header descriptor and window (2): the first block header follows
        b[hdr]! |= 0x06 // block type 3: reserved
        return b
      })(),
    ],
  ]
  for (const [what, bad] of cases) {
    t.equal(programDecodes(bad), undefined, `${what}: the zstd program refuses it`)
    const e = await failure(decodeAll(pieces(bad, [65536])))
    t.equal(e.code, 'VMA_COMPRESSION_CORRUPT', what)
    t.equal(e.file, 'test.zst', `${what}: names the file`)
    // A stream cut short says so in the words every decoder uses (input/in-file truncated); other damage says where.
    const cut = what.startsWith('cut ')
    t.match(
      e.message,
      cut
        ? /^truncated: the compressed stream ends early \(after \d+ compressed bytes\)$/
        : /^zstd data is corrupt: (a frame is malformed|a frame's content checksum does not match its data) \((libzstd near|at) compressed offset \d+: /,
      `${what}: ${e.message}`,
    )
  }
})

t.test(`a window over 2^${WINDOW_LOG_MAX} is not allocated here: the program decodes it, or libzstd refuses it with a hint`, { skip }, async t => {
  const dir = t.testdir()
  const plain = makeContent(1 * MiB, 4)
  // From stdin zstd cannot know the size, so the frame asks for the whole --long window.
  for (const log of [WINDOW_LOG_MAX, WINDOW_LOG_MAX + 1, 27]) {
    const z = zstd([`--long=${log}`], plain)
    t.equal(firstFrameWindow(z), 2 ** log, `2^${log}: the header's window is read`)
    writeFileSync(join(dir, 'w.zst'), z)
    const input = await openInput(join(dir, 'w.zst'))
    const got: Buffer[] = []
    for await (const c of input.chunks()) got.push(Buffer.from(c))
    await input.close()
    t.ok(Buffer.concat(got).equals(plain), `2^${log}: decoded`)
    if (log <= WINDOW_LOG_MAX) t.equal(input.decoder, 'libzstd', `2^${log}: by libzstd`)
    else t.match(input.decoder, /zstd$/, `2^${log}: by the zstd program, in its own memory`)
    if (log > WINDOW_LOG_MAX) {
      // Asked for libzstd all the same (or a later frame with such a window): refused, not allocated.
      const e = await failure(decodeAll(pieces(z, [z.length])))
      t.equal(e.code, 'VMA_UNSUPPORTED_COMPRESSION', `2^${log}: libzstd refuses it`)
      t.match(e.message, /needs a window over 8 MiB.*VMA_OPT_ZSTD_DECODER=program/)
    }
  }
  // A window the zstd program refuses too (over its own 2^27): corrupt or unsupported, never decoded.
  const huge = zstd(['--long=28'], plain)
  t.equal(programDecodes(huge), undefined, 'the program refuses 2^28 without --memory')
  writeFileSync(join(dir, 'h.zst'), huge)
  const r = await cliInProcess(['verify', '--data', join(dir, 'h.zst')])
  t.equal(r.status, 1, r.stderr)
  t.match(r.stderr, /^vma-opt: .*h\.zst: .*\(VMA_COMPRESSION_CORRUPT\)\n$/)
})

t.test('the first frame header gives the window, whatever its form', async t => {
  const frame = (fhd: number, rest: number[]) => Buffer.from([0x28, 0xb5, 0x2f, 0xfd, fhd, ...rest])
  t.equal(firstFrameWindow(frame(0x00, [0x58])), 2 ** 21, 'Window_Descriptor 2^21')
  t.equal(firstFrameWindow(frame(0x00, [(13 << 3) | 3])), 2 ** 23 + 3 * 2 ** 20, 'a mantissa adds eighths')
  t.equal(firstFrameWindow(frame(0x20, [200])), 200, 'single segment, 1-byte content size')
  t.equal(firstFrameWindow(frame(0x60, [0x00, 0x01])), 256 + 256, 'single segment, 2-byte content size (+256)')
  t.equal(firstFrameWindow(frame(0xe1, [7, 0, 0, 0, 0x80, 0, 0, 0, 0])), 2 ** 31, 'a dictionary id first, then an 8-byte content size')
  t.equal(firstFrameWindow(frame(0xe1, [7, 0, 0])), undefined, 'cut short')
  t.equal(firstFrameWindow(Buffer.from([0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0])), undefined, 'a skippable frame first')
})

t.test('empty chunks between the bytes change nothing (libzstd gives up after 16 calls that move nothing)', { skip }, async t => {
  const plain = makeContent(MiB, 8)
  const z = zstd([], plain)
  const src = async function* () {
    yield z.subarray(0, 100)
    for (let i = 0; i < 40; i++) yield Buffer.alloc(0)
    yield z.subarray(100)
    yield Buffer.alloc(0)
  }
  t.ok((await decodeAll(src())).equals(plain))
})

t.test('gzip data after a zstd frame: libzstd refuses it, the zstd program decodes it (docs/limitations.md)', { skip }, async t => {
  const dir = t.testdir()
  const { buf } = makeVma({ devices: [{ name: 'drive-scsi0', size: 2 * MiB }] })
  const half = buf.length >> 1
  const gz = spawnSync('gzip', ['-c'], { input: buf.subarray(half) }).stdout
  writeFileSync(join(dir, 'mixed.vma.zst'), Buffer.concat([zstd([], buf.subarray(0, half)), gz]))
  const lib = await cliInProcess(['verify', '--data', join(dir, 'mixed.vma.zst')], { env: { VMA_OPT_ZSTD_DECODER: 'library' } })
  t.equal(lib.status, 1, lib.stderr)
  t.match(lib.stderr, /zstd data is corrupt: a frame is malformed \(libzstd near compressed offset \d+: Unknown frame descriptor\) \(VMA_COMPRESSION_CORRUPT\)\n$/)
  const prog = await cliInProcess(['verify', '--data', join(dir, 'mixed.vma.zst')], { env: { VMA_OPT_ZSTD_DECODER: 'program' } })
  t.equal(prog.status, 0, `the program's reading is a whole, valid archive: ${prog.stderr}`)
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
  for (const decoder of ['library', 'program', 'fzstd'] as const) {
    const input = await openInput(join(dir, 'a.vma.zst'), { zstdDecoder: decoder })
    t.match(input.decoder, { library: /^libzstd$/, program: /\/zstd$/, fzstd: /^fzstd$/ }[decoder], `${decoder}: the one named decodes`)
    await input.close()
    const r = await cliInProcess(['verify', '--data', '--json', join(dir, 'a.vma.zst')], { env: { VMA_OPT_ZSTD_DECODER: decoder } })
    t.equal(r.status, 0, `${decoder}: ${r.stderr}`)
    digests.add(JSON.stringify(JSON.parse(r.stdout).devices))
  }
  t.equal(digests.size, 1, 'all three decoders give the same digests')
  const bad = await cliInProcess(['verify', join(dir, 'a.vma.zst')], { env: { VMA_OPT_ZSTD_DECODER: 'fast' } })
  t.equal(bad.status, 2)
  t.match(bad.stderr, /^vma-opt: .*VMA_OPT_ZSTD_DECODER must be library, program or fzstd, not "fast" \(VMA_USAGE\)\n$/)
  // Whatever the input: a plain archive too.
  writeFileSync(join(dir, 'a.vma'), buf)
  const plain = await cliInProcess(['verify', join(dir, 'a.vma')], { env: { VMA_OPT_ZSTD_DECODER: 'fast' } })
  t.equal(plain.status, 2, plain.stderr)
})

t.test('a spool is written by the zstd program by default, the same as by libzstd', { skip }, async t => {
  const dir = t.testdir()
  const devices = Array.from({ length: 3 }, (_, i) => ({ name: `drive-scsi${i}`, size: 2 * MiB + i * 4096 }))
  const { buf } = makeVma({ devices, order: 'interleaved', seed: 4 })
  writeFileSync(join(dir, 'a.vma.zst'), zstd([], buf))
  // A zstd that notes each run, to see who wrote the spool.
  const bin = join(dir, 'bin')
  mkdirSync(bin)
  const real = spawnSync('sh', ['-c', 'command -v zstd'], { encoding: 'utf8' }).stdout.trim()
  writeFileSync(join(bin, 'zstd'), `#!/bin/sh\necho "$*" >> '${join(dir, 'zstd.log')}'\nexec '${real}' "$@"\n`, { mode: 0o755 })
  const work = join(dir, 'work')
  mkdirSync(work)
  const outs: Buffer[] = []
  for (const decoder of ['library', 'program', '']) {
    const out = join(work, `out-${decoder || 'default'}.vma`)
    rmSync(join(dir, 'zstd.log'), { force: true })
    const env = cliEnv({ PATH: `${bin}:${process.env.PATH}`, ...(decoder ? { VMA_OPT_ZSTD_DECODER: decoder } : {}) })
    const r = spawnSync(BIN, ['optimize', '--spool', '--tmpdir', work, join(dir, 'a.vma.zst'), out], { env, encoding: 'utf8' })
    t.equal(r.status, 0, `${decoder || 'default'}: ${r.stderr}`)
    outs.push(readFileSync(out))
    const ran = existsSync(join(dir, 'zstd.log')) ? readFileSync(join(dir, 'zstd.log'), 'utf8') : ''
    if (decoder === 'library') t.equal(ran, '', 'library: libzstd wrote the spool')
    else t.match(ran, /^-d -c -q/, `${decoder || 'default'}: the zstd program wrote the spool`)
  }
  t.ok(outs[0]!.equals(outs[1]!) && outs[1]!.equals(outs[2]!), 'the same optimized archive')
  t.same(readdirSync(work).sort(), ['out-default.vma', 'out-library.vma', 'out-program.vma'], 'no spool left')
})
