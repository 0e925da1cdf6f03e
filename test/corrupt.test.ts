// Every check, fed an archive broken in exactly that way: the right code,
// the right offset, exit status 1, one line on stderr. And no input at all,
// however damaged, may end in anything but a VmaError.

import t from 'tap'
import { skipHere } from './tools.js'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { VmaError } from '../src/util/errors.js'
import { inspectArchive } from '../src/check/inspect.js'
import { corruptCases } from './fixtures/corrupt-vma.js'
import { makeVma, rng } from './fixtures/make-vma.js'
import { BIN, cliEnv, cliInProcess } from './helpers.js'

const cases = corruptCases()

async function firstProblem(buf: Buffer, asFile?: string): Promise<{ code: string; offset: number | null; message: string }> {
  try {
    const r = await inspectArchive(asFile ?? '-', asFile ? {} : { stdin: Readable.from([buf]) })
    if (r.problems.length) return r.problems[0]!
    return { code: 'OK', offset: null, message: '' }
  } catch (e) {
    if (!(e instanceof VmaError)) throw e
    return { code: e.code, offset: e.offset >= 0 ? e.offset : null, message: e.message }
  }
}

t.test('every error code has a failure fixture', async t => {
  const codes = new Set(cases.map(c => c.code))
  const { ARCHIVE_CODES } = await import('../src/util/errors.js')
  const elsewhere = new Set(['VMA_COMPRESSION_CORRUPT', 'VMA_IS_DELTA', 'VMA_NOT_DELTA', 'VMA_DELTA_IDENTITY', 'VMA_DELTA_CHAIN', 'VMA_DELTA_DATA'])
  const untested = ARCHIVE_CODES.filter(c => !codes.has(c) && !elsewhere.has(c))
  t.same(untested, [], 'all archive error codes are covered here (compression and delta ones elsewhere: test/delta*.test.ts)')
})

for (const c of cases) {
  t.test(`${c.code}: ${c.name}`, async t => {
    const dir = t.testdir()
    const file = join(dir, `${c.code}.vma`)
    writeFileSync(file, c.buf)
    for (const how of ['stream', 'file headers', 'file data'] as const) {
      const got =
        how === 'stream'
          ? await firstProblem(c.buf)
          : await (async () => {
              try {
                const r = await inspectArchive(file, { readData: how === 'file data' })
                return r.problems[0] ?? { code: 'OK', offset: null, message: '' }
              } catch (e) {
                if (!(e instanceof VmaError)) throw e
                return { code: e.code, offset: e.offset >= 0 ? e.offset : null, message: e.message }
              }
            })()
      t.equal(got.code, c.code, `${how}: code`)
      t.equal(got.offset, c.offset, `${how}: offset`)
      if (c.offset !== null) t.match(got.message, `offset ${c.offset}`, `${how}: the message names the offset`)
    }
  })
}

t.test('the CLI: one line, file, offset, code, exit 1', async t => {
  const dir = t.testdir()
  // The first case in a process of its own (what a user's shell sees), the others in this one.
  for (const [i, c] of cases.filter((_, i) => i % 4 === 0).entries()) {
    const file = join(dir, `${c.code}.vma`)
    writeFileSync(file, c.buf)
    const r = i === 0 ? spawnSync(BIN, ['verify', file], { encoding: 'utf8', env: cliEnv() }) : await cliInProcess(['verify', file])
    t.equal(r.status, 1, `${c.name}: exit 1`)
    const lines = r.stderr.trim().split('\n')
    t.equal(lines.length, 1, `${c.name}: one line`)
    t.match(lines[0], new RegExp(`^vma-opt: .*${c.code}\\.vma: .*\\(${c.code}\\)`), `${c.name}: names file and code`)
    if (c.offset !== null) t.match(lines[0], `offset ${c.offset}`)
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace')
  }
})

t.test('damaged compressed streams fail, never pass silently', async t => {
  const v = makeVma({ devices: [{ name: 'drive-scsi0', size: 2 << 20 }], order: 'interleaved' })
  const dir = t.testdir()
  const plain = join(dir, 'a.vma')
  writeFileSync(plain, v.buf)
  for (const [tool, args] of [
    ['zstd', ['-q', '-f', '-k']],
    ['gzip', ['-k', '-f', '-n']],
    ['lzop', ['-f', '-q']],
  ] as const) {
    const ext = tool === 'zstd' ? 'zst' : tool === 'gzip' ? 'gz' : 'lzo'
    const r = spawnSync(tool, [...args, plain])
    t.equal(r.status, 0, `${tool} ran`)
    const packed = await import('node:fs').then(fs => fs.readFileSync(`${plain}.${ext}`))
    const good = await firstProblem(packed)
    t.equal(good.code, 'OK', `${tool}: intact stream reads`)
    const flipped = Buffer.from(packed)
    flipped[Math.floor(flipped.length / 2)]! ^= 0x55
    const bad = await firstProblem(flipped)
    t.not(bad.code, 'OK', `${tool}: a flipped byte is an error`)
    const cut = await firstProblem(packed.subarray(0, packed.length - 50))
    t.not(cut.code, 'OK', `${tool}: truncation is an error`)
    t.ok(['VMA_COMPRESSION_CORRUPT', 'VMA_EXTENT_TRUNCATED', 'VMA_EXTENT_MD5', 'VMA_BLOCK_COUNT', 'VMA_EXTENT_MAGIC', 'VMA_EXTENT_UUID'].includes(cut.code), `${tool}: ${cut.code}`)
  }
})

t.test('fuzz: flipped bytes and cuts anywhere give a VmaError or pass', async t => {
  const v = makeVma({
    devices: [
      { name: 'drive-scsi0', size: 300 * 1024 },
      { name: 'drive-efidisk0', size: 540672 },
    ],
    order: 'shuffled',
    seed: 9,
  })
  const r = rng(1234)
  let errors = 0
  for (let i = 0; i < 300; i++) {
    const b = Buffer.from(v.buf)
    const n = 1 + Math.floor(r() * 4)
    for (let k = 0; k < n; k++) b[Math.floor(r() * b.length)]! ^= 1 + Math.floor(r() * 255)
    const p = await firstProblem(b)
    if (p.code !== 'OK') errors++
  }
  t.ok(errors > 0, `${errors} of 300 damaged archives rejected, the rest damaged only data`)
  for (let cut = 0; cut < v.buf.length; cut += 997) {
    const p = await firstProblem(v.buf.subarray(0, cut))
    t.not(p.code, 'OK', `cut at ${cut}`)
  }
})

t.test('without the zstd program (fzstd), a wrong content checksum is still caught', async t => {
  const { randomBytes } = await import('node:crypto')
  // Random data is stored in raw zstd blocks: a flipped byte there decodes fine and only the checksum can tell.
  const v = makeVma({ devices: [{ name: 'drive-scsi0', size: 1 << 20, data: randomBytes(1 << 20) }], order: 'shuffled' })
  const z = spawnSync('zstd', ['-q', '-c'], { input: v.buf, maxBuffer: 64 << 20 }).stdout
  const read = async (buf: Buffer) => {
    try {
      const r = await inspectArchive('-', { stdin: Readable.from([buf]), forceFzstd: true, digest: true })
      return r.problems[0]?.code ?? 'OK'
    } catch (e) {
      return (e as VmaError).code
    }
  }
  t.equal(await read(z), 'OK', 'intact')
  const flipped = Buffer.from(z)
  flipped[flipped.length - 300000]! ^= 0x10
  t.equal(await read(flipped), 'VMA_COMPRESSION_CORRUPT', 'flipped byte in a raw block')
  const twoFrames = Buffer.concat([z.subarray(0, z.length), Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3])])
  t.equal(await read(twoFrames), 'OK', 'a trailing skippable frame is ignored')
  t.equal(await read(z.subarray(0, z.length - 10)), 'VMA_COMPRESSION_CORRUPT', 'truncated')
  // Several concatenated frames (as pzstd or `cat a.zst b.zst` make) are one stream.
  const half = v.buf.length >> 1
  const zz = Buffer.concat([0, half].map((at, i) => spawnSync('zstd', ['-q', '-c'], { input: v.buf.subarray(at, i ? undefined : half), maxBuffer: 64 << 20 }).stdout))
  t.equal(await read(zz), 'OK', 'concatenated frames, fzstd')
  const sys = await inspectArchive('-', { stdin: Readable.from([zz]) })
  t.equal(sys.size, v.buf.length, 'concatenated frames, zstd program')
})

t.test("an odd-sized device: a block that starts in its partial last sector is refused, as Proxmox's vma refuses it", async t => {
  const { proxmoxVma, verifyWithProxmox } = await import('./proxmox-vma.js')
  const vma = proxmoxVma()
  const dir = t.testdir()
  // 69,732 bytes: Proxmox's reader writes whole sectors up to 69,632; the block at 69,632 starts in the partial one.
  // With 70,244 bytes the same block starts before the last whole sector ends (69,632 < 70,144) and is restorable.
  for (const [size, restorable] of [
    [65536 + 4096 + 100, false],
    [70244, true],
  ] as const) {
    const v = makeVma({
      devices: [{ name: 'drive-scsi0', size }],
      order: [
        { dev: 1, cluster: 0 },
        { dev: 1, cluster: 1, mask: 0x0003 },
      ],
    })
    const file = join(dir, `odd-${size}.vma`)
    writeFileSync(file, v.buf)
    const ours = spawnSync(BIN, ['verify', '--data', file], { env: cliEnv(), encoding: 'utf8' })
    t.equal(ours.status, restorable ? 0 : 1, `${size} bytes: vma-opt verify ${restorable ? 'passes' : 'refuses'} (${ours.stderr.trim()})`)
    if (!vma.ok) {
      skipHere(t, `Proxmox's vma: ${vma.reason}`)
      continue
    }
    const theirs = verifyWithProxmox(vma.path, file)
    t.equal(theirs.status === 0, restorable, `${size} bytes: Proxmox's vma verify agrees (${theirs.stderr.trim().split('\n')[0] ?? ''})`)
  }
})
