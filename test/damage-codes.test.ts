// Damaged input is exit 1 with a message people can read: unpack of a header
// that claims a device larger than the filesystem allows is the damage it is
// (missing clusters, as verify says), not an I/O error; a chain whose
// creation times differ says so with dates, not epoch seconds; the specs
// give every code the exit status the code has.

import t from 'tap'
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fixExtentMd5, fixHeaderMd5, makeContent, makeVma } from './fixtures/make-vma.js'
import { layOut } from './fixtures/delta-layout.js'
import { write } from './fixtures/delta-helpers.js'
import { ROOT, cliInProcess } from './helpers.js'

t.test('unpack: a header claiming a 128 TiB device is a damaged archive (exit 1), as verify says', async t => {
  const dir = t.testdir()
  const size = 1 << 20
  const buf = makeVma({ devices: [{ name: 'drive-scsi0', size, data: makeContent(size, 3) }] }).buf
  // Device 1's size (at 4096 + 32 + 8): 2^47 bytes, past ext4's 16 TiB file limit (EFBIG).
  buf.writeBigUInt64BE(1n << 47n, 4096 + 32 + 8)
  fixHeaderMd5(buf)
  const src = join(dir, 'huge.vma')
  writeFileSync(src, buf)
  const v = await cliInProcess(['verify', src])
  t.equal(v.status, 1, 'verify: exit 1')
  const out = join(dir, 'out')
  const u = await cliInProcess(['unpack', src, out])
  t.equal(u.status, 1, `unpack: exit 1 (${u.stderr.trim()})`)
  t.match(u.stderr, /huge\.vma: .*VMA_MISSING_CLUSTER/)
  t.notOk(existsSync(out), 'the directory it created is gone again')
  t.same(readdirSync(dir), ['huge.vma'], 'nothing left behind')
})

t.test('a chain on a base with another creation time: the dates, not epoch seconds', async t => {
  const dir = t.testdir()
  const size = 524288
  const data = makeContent(size, 9)
  const a = write(join(dir, 'a.vma'), { devices: [{ name: 'drive-scsi0', size, data }], ctime: 1700000000 }, 1)
  const a2 = write(join(dir, 'a2.vma'), { devices: [{ name: 'drive-scsi0', size, data }], ctime: 1700086400 }, 1)
  const b = write(join(dir, 'b.vma'), { devices: [{ name: 'drive-scsi0', size, data: Buffer.alloc(size, 1) }], ctime: 1700172800 }, 2)
  const delta = join(dir, 'b.vma-delta')
  t.equal((await cliInProcess(['diff', a, b, delta])).status, 0, 'diff')
  const r = await cliInProcess(['apply', a2, delta, join(dir, 'out.vma')])
  t.equal(r.status, 1)
  t.match(r.stderr, /b\.vma-delta does not apply to BASE .*a2\.vma: the creation time differs \(2023-11-14T22:13:20Z vs 2023-11-15T22:13:20Z\)/)
  const c = await cliInProcess(['compare', a2, delta])
  t.equal(c.status, 1)
  t.match(c.stderr, /the creation time differs \(2023-11-14T22:13:20Z vs 2023-11-15T22:13:20Z\)/)
})

t.test('every error code the specs name with an exit status exists and exits so', async t => {
  const { ARCHIVE_CODES, ENV_CODES, INTERNAL_CODES, exitCodeFor } = await import('../src/util/errors.js')
  const known = new Set<string>([...ARCHIVE_CODES, ...ENV_CODES, ...INTERNAL_CODES, 'VMA_USAGE', 'VMA_CANNOT_PACK', 'VMA_GUEST_DAMAGED', 'VMA_GUEST_UNSUPPORTED', 'VMA_NOT_FOUND'])
  let pairs = 0
  for (const spec of ['spec/delta-format.md', 'spec/cli.md']) {
    // "`CODE`, exit N" and "`CODE` (exit N" as the specs write them.
    const text = readFileSync(join(ROOT, spec), 'utf8').replace(/\s+/g, ' ')
    for (const m of text.matchAll(/`(VMA_[A-Z_0-9]+)`,? \(?exit (\d)/g)) {
      const code = m[1]!
      t.ok(known.has(code), `${spec}: ${code} is a code of src/util/errors.ts`)
      if (known.has(code)) t.equal(exitCodeFor(code as Parameters<typeof exitCodeFor>[0]), Number(m[2]), `${spec}: ${code} exits ${m[2]}`)
      pairs++
    }
  }
  t.ok(pairs >= 8, `${pairs} codes with their exit status found in the specs`)
})

t.test('a delta that lost a cluster of a grown disk: the error names the delta and the chain', async t => {
  const dir = t.testdir()
  const size = 524288
  const data = makeContent(size, 4)
  const a = write(join(dir, 'a.vma'), { devices: [{ name: 'drive-scsi0', size, data }] }, 1)
  // Grown by 4 zero clusters: each is listed with mask 0 (past BASE's end, always listed).
  const grown = Buffer.concat([data, Buffer.alloc(4 * 65536)])
  const b = write(join(dir, 'b.vma'), { devices: [{ name: 'drive-scsi0', size: grown.length, data: grown }] }, 2)
  const delta = join(dir, 'b.vma-delta')
  t.equal((await cliInProcess(['diff', a, b, delta])).status, 0, 'diff')
  const buf = readFileSync(delta)
  const lost = layOut(buf)
    .extents.flatMap(e => e.clusters.map(c => ({ e, c })))
    .find(x => x.c.cluster === 9 && x.c.mask === 0)!
  // Its blockinfo slot and check emptied, the extent's md5 made right again: a delta that never listed it.
  const slot = (lost.c.check - lost.e.checks) / 8
  buf.fill(0, lost.e.offset + 40 + slot * 8, lost.e.offset + 48 + slot * 8)
  buf.fill(0, lost.c.check, lost.c.check + 8)
  fixExtentMd5(buf, lost.e.offset)
  const cut = join(dir, 'cut.vma-delta')
  writeFileSync(cut, buf)
  t.equal((await cliInProcess(['verify', cut])).status, 0, 'the delta alone is well formed')
  const r = await cliInProcess(['apply', a, cut, join(dir, 'out.vma')])
  t.equal(r.status, 1)
  t.match(r.stderr, /cut\.vma-delta: cluster 9 of drive-scsi0 is in none of the chain's archives \(.*cut\.vma-delta, .*a\.vma\): a delta is damaged or was cut \(VMA_DELTA_CHAIN\)/)
  t.same(readdirSync(dir).sort(), ['a.vma', 'b.vma', 'b.vma-delta', 'cut.vma-delta'], 'nothing written')
})
