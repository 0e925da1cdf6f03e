// verify FILE...: every archive of a dump directory checked in one call, each
// reported as if alone, a damaged or missing one not stopping the rest, a
// summary line, and the exit status the worst of them.

import t from 'tap'
import type { Test } from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeContent, makeVma } from './fixtures/make-vma.js'
import { cliInProcess } from './helpers.js'

const good = makeVma({ devices: [{ name: 'drive-scsi0', size: 1 << 20, data: makeContent(1 << 20, 5) }] }).buf

function dumpDir(t: Test): { dir: string; a: string; b: string; bad: string; missing: string } {
  const dir = t.testdir({})
  const a = join(dir, 'vzdump-qemu-100-2026_12_01-01_00_00.vma')
  const b = join(dir, 'vzdump-qemu-100-2026_12_02-01_00_00.vma')
  const bad = join(dir, 'vzdump-qemu-100-2026_12_03-01_00_00.vma')
  writeFileSync(a, good)
  writeFileSync(b, good)
  // A cluster's data cut off: a truncated copy.
  writeFileSync(bad, good.subarray(0, good.length - 4096))
  return { dir, a, b, bad, missing: join(dir, 'gone.vma') }
}

t.test('all good: one line each and a summary, exit 0', async t => {
  const { a, b } = dumpDir(t)
  const r = await cliInProcess(['verify', a, b])
  t.equal(r.status, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  t.match(lines[0], /2026_12_01-01_00_00\.vma: ok: 1 device/)
  t.match(lines[1], /2026_12_02-01_00_00\.vma: ok: 1 device/)
  t.equal(lines[2], '2 archives: 2 ok, 0 failed')
  const q = await cliInProcess(['verify', '-q', a, b])
  t.equal(q.stdout + q.stderr, '', '-q: nothing when all are good')
})

t.test('a damaged one and a missing one do not stop the rest; the exit status is the worst', async t => {
  const { a, b, bad, missing } = dumpDir(t)
  const r = await cliInProcess(['verify', a, bad, missing, b])
  t.equal(r.status, 3, 'the worst: 3 (a missing file) over 1 (a damaged one)')
  t.match(r.stdout, /2026_12_01-01_00_00\.vma: ok/)
  t.match(r.stdout, /2026_12_02-01_00_00\.vma: ok/, 'the file after the failures was checked')
  t.match(r.stdout, /\n4 archives: 2 ok, 2 failed\n$/)
  const errs = r.stderr.trim().split('\n')
  t.equal(errs.length, 2, `one line per failed file: ${r.stderr}`)
  t.match(errs[0], /^vma-opt: \S+2026_12_03-01_00_00\.vma: .*\(VMA_\w+\)$/)
  t.match(errs[1], /^vma-opt: .*gone\.vma.*\(VMA_\w+\)$/)
  const onlyBad = await cliInProcess(['verify', '-q', a, bad])
  t.equal(onlyBad.status, 1, 'a damaged archive: exit 1')
  t.equal(onlyBad.stdout, '2 archives: 1 ok, 1 failed\n', '-q still says that one failed')
})

t.test('--json: an array of the single-file reports', async t => {
  const { a, bad } = dumpDir(t)
  const r = await cliInProcess(['verify', '--json', a, bad])
  t.equal(r.status, 1)
  const j = JSON.parse(r.stdout) as { file: string; ok: boolean; problems: { code: string }[] }[]
  t.equal(j.length, 2)
  t.equal(j[0]!.ok, true)
  t.equal(j[1]!.ok, false)
  t.ok(j[1]!.problems.length > 0 && /^VMA_/.test(j[1]!.problems[0]!.code))
  const single = await cliInProcess(['verify', '--json', a])
  t.equal((JSON.parse(single.stdout) as { ok: boolean }).ok, true, 'one file: one object, as before')
  const twice = await cliInProcess(['verify', '-', '-'])
  t.equal(twice.status, 2, 'stdin named twice: usage error')
})
