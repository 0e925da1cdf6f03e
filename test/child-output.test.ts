// A decompressor's output is read into one buffer of ours (src/input/
// child-output.ts), not a new one per read(2): what kept 30 MB of garbage in
// optimize's RSS and a third of its CPU time in collections.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeContent } from './fixtures/make-vma.js'
import { openInput } from '../src/input/archive-input.js'
import { haveTool } from './tools.js'

const MiB = 1 << 20
const have = haveTool

t.test("a decompressor's output comes in one reused buffer, not a new one per read", { skip: have('zstd') ? false : 'needs the zstd program' }, async t => {
  const dir = t.testdir()
  const src = join(dir, 'big.vma')
  const size = 24 * MiB
  writeFileSync(src, makeContent(size, 5))
  t.equal(spawnSync('zstd', ['-q', '--rm', src]).status, 0)
  const input = await openInput(`${src}.zst`, { zstdDecoder: 'program' })
  const buffers = new Set<ArrayBufferLike>()
  let bytes = 0
  let chunks = 0
  for await (const c of input.chunks()) {
    buffers.add(c.buffer)
    bytes += c.length
    chunks++
  }
  await input.close()
  t.equal(bytes, size, 'every byte')
  t.ok(chunks > 10, `many reads (${chunks})`)
  t.equal(buffers.size, 1, 'all into the same memory')
})

t.test('a decompressor stopped early is not waited for, and its failure still reads as ours', { skip: have('zstd') ? false : 'needs the zstd program' }, async t => {
  const dir = t.testdir()
  const src = join(dir, 'big.vma')
  writeFileSync(src, makeContent(16 * MiB, 6))
  t.equal(spawnSync('zstd', ['-q', '--rm', src]).status, 0)
  const input = await openInput(`${src}.zst`, { zstdDecoder: 'program' })
  let n = 0
  for await (const c of input.chunks()) {
    n += c.length
    if (n > MiB) break
  }
  await input.close()
  t.ok(n > MiB, 'read part of it, then stopped')
  // Cut short: zstd's complaint comes back as a corrupt-compression error naming the file.
  const whole = spawnSync('cat', [`${src}.zst`]).stdout
  writeFileSync(`${src}.zst`, whole.subarray(0, whole.length >> 1))
  const cut = await openInput(`${src}.zst`, { zstdDecoder: 'program' })
  await t.rejects(
    (async () => {
      for await (const c of cut.chunks()) void c
    })(),
    { code: 'VMA_COMPRESSION_CORRUPT', file: `${src}.zst` },
  )
  await cut.close()
})
