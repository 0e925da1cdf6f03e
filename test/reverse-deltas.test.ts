// The reverse-delta hook step: after each backup the previous one becomes a
// reverse delta against it, the chain restores every old backup byte for
// byte as optimize would make it, --keep-deltas prunes oldest first, and the
// old archive stays whenever anything fails.

import t from 'tap'
import { chmodSync, chownSync, mkdirSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { reverseDeltaAfterBackup } from '../src/hook/reverse-deltas.js'
import { apply } from '../src/delta/apply.js'
import { optimize } from '../src/optimize/optimize.js'
import { makeContent, makeVma } from './fixtures/make-vma.js'

const days = ['2026_11_20-01_00_00', '2026_11_21-01_00_00', '2026_11_22-01_00_00', '2026_11_23-01_00_00']
const name = (vmid: number, day: number, ext = '.vma') => `vzdump-qemu-${vmid}-${days[day]}${ext}`

/** Day `day` of a VM: a few clusters change every day. */
function backup(dir: string, vmid: number, day: number, ext = '.vma'): string {
  const data = makeContent(1048576 + 8192, vmid)
  for (let d = 1; d <= day; d++) data.fill(d, d * 131072, d * 131072 + 20000)
  const path = join(dir, name(vmid, day, ext))
  writeFileSync(
    path,
    makeVma({
      devices: [{ name: 'drive-scsi0', size: data.length, data }],
      configs: [{ name: 'qemu-server.conf', data: `day ${day}\n` }],
      ctime: 1795136400 + day * 86400,
      order: 'shuffled',
      seed: day,
    }).buf,
  )
  return path
}

t.test('each backup turns the previous one into a reverse delta; the chain restores them all', async t => {
  const dir = t.testdir()
  const opt = join(t.testdir(), 'optimized')
  mkdirSync(opt, { recursive: true })
  const other = backup(dir, 200, 0) // another guest: never touched
  const before = readFileSync(other)
  for (let day = 0; day < 4; day++) {
    const path = backup(dir, 100, day)
    await optimize(path, { dest: join(opt, `${day}.vma`) })
    writeFileSync(`${path}.notes`, `notes of day ${day}`)
    const r = await reverseDeltaAfterBackup(path)
    if (day === 0) t.match(r.skipped, /no earlier backup/)
    else t.equal(r.delta, join(dir, name(100, day - 1, '.vma-delta')))
  }
  t.same(
    readdirSync(dir)
      .filter(f => f.endsWith('.vma'))
      .sort(),
    [name(100, 3), name(200, 0)],
    'only the newest backup of each guest is a full archive',
  )
  t.equal(readFileSync(join(dir, `${name(100, 0, '.vma-delta')}.notes`), 'utf8'), 'notes of day 0', 'notes follow the delta')
  t.ok(readFileSync(other).equals(before), 'the other guest is untouched')
  // Restoring day d: the newest archive, then the deltas newest first.
  for (let day = 0; day < 3; day++) {
    const chain = [2, 1, 0].filter(d => d >= day).map(d => join(dir, name(100, d, '.vma-delta')))
    const out = join(opt, `restored-${day}.vma`)
    await apply(join(dir, name(100, 3)), chain, out)
    t.ok(readFileSync(out).equals(readFileSync(join(opt, `${day}.vma`))), `day ${day} restored byte for byte`)
  }
})

t.test('--keep-deltas removes the oldest deltas, with their notes and vzdump task logs', async t => {
  const dir = t.testdir()
  const logs: string[] = []
  for (let day = 0; day < 4; day++) {
    const path = backup(dir, 100, day)
    // What vzdump leaves beside each backup: its task log (named without .vma) and the notes.
    writeFileSync(join(dir, name(100, day, '.log')), `task log of day ${day}`)
    writeFileSync(`${path}.notes`, `notes of day ${day}`)
    await reverseDeltaAfterBackup(path, { keepDeltas: 1, log: l => logs.push(l) })
  }
  t.same(readdirSync(dir).sort(), [
    name(100, 2, '.log'),
    name(100, 2, '.vma-delta'),
    `${name(100, 2, '.vma-delta')}.notes`,
    name(100, 3, '.log'),
    name(100, 3),
    `${name(100, 3)}.notes`,
    `${name(100, 3)}.protected`,
  ])
  t.match(logs.join('\n'), /removed .*2026_11_20.*keep-deltas 1/)
})

t.test('a delta keeps the owner, group and mode of the archive it replaces', { skip: process.getuid?.() !== 0 && 'chown needs root' }, async t => {
  const dir = t.testdir()
  const day0 = backup(dir, 100, 0)
  chmodSync(day0, 0o644)
  chownSync(day0, 34, 34)
  await reverseDeltaAfterBackup(day0)
  await reverseDeltaAfterBackup(backup(dir, 100, 1))
  const st = statSync(join(dir, name(100, 0, '.vma-delta')))
  t.same([st.mode & 0o7777, st.uid, st.gid], [0o644, 34, 34], 'not the 0600 of a new temp file')
})

t.test('the old archive stays whenever anything fails', async t => {
  const dir = t.testdir()
  const prev = backup(dir, 100, 0)
  const keep = readFileSync(prev)
  // The delta's name is taken by a directory: publishing it fails.
  mkdirSync(join(dir, name(100, 0, '.vma-delta')))
  const failed = await reverseDeltaAfterBackup(backup(dir, 100, 1))
  t.match(failed.failed, [{ archive: prev, error: { code: 'VMA_EXISTS' } }])
  t.ok(readFileSync(prev).equals(keep), 'the old archive is still there, unchanged')
  t.same(readdirSync(dir).sort(), [name(100, 0), name(100, 0, '.vma-delta'), name(100, 1), `${name(100, 1)}.protected`], 'and no temp file is left')

  const dir2 = t.testdir()
  const prev2 = backup(dir2, 100, 0)
  const damaged = backup(dir2, 100, 1)
  truncateSync(damaged, 20000)
  t.match((await reverseDeltaAfterBackup(damaged)).failed, [{ error: { code: 'VMA_EXTENT_TRUNCATED' } }])
  t.same(
    readdirSync(dir2)
      .filter(f => !f.endsWith('.protected'))
      .sort(),
    [name(100, 0), name(100, 1)],
    'a damaged new backup converts nothing',
  )
  t.ok(readFileSync(prev2).length > 20000)

  const dir3 = t.testdir()
  backup(dir3, 100, 0)
  writeFileSync(join(dir3, `${name(100, 0)}.protected`), '')
  const r = await reverseDeltaAfterBackup(backup(dir3, 100, 1))
  t.match(r.skipped, /protected/)
  t.same(readdirSync(dir3).sort(), [name(100, 0), `${name(100, 0)}.protected`, name(100, 1), `${name(100, 1)}.protected`])
  t.equal(readFileSync(join(dir3, `${name(100, 0)}.protected`), 'utf8'), '', 'the protection a person set is left as it was')
})

t.test('through the hook: --reverse-deltas --keep-deltas as vzdump calls it', async t => {
  const { runHook } = await import('../src/hook/vzdump-hook.js')
  const { hookScript } = await import('../src/hook/install-hook.js')
  t.match(hookScript({ reverseDeltas: true, keepDeltas: 2 }), /'--reverse-deltas' '--keep-deltas' '2'/)
  const dir = t.testdir()
  const logs: string[] = []
  for (let day = 0; day < 4; day++) {
    const target = backup(dir, 100, day)
    const code = await runHook(['--reverse-deltas', '--keep-deltas', '2', 'backup-end', 'snapshot', '100'], { VMTYPE: 'qemu', TARGET: target }, { log: l => logs.push(l) })
    t.equal(code, 0)
  }
  t.same(readdirSync(dir).sort(), [name(100, 1, '.vma-delta'), name(100, 2, '.vma-delta'), name(100, 3), `${name(100, 3)}.protected`])
  t.match(logs.join('\n'), /is now the reverse delta/)
  const bad = await runHook(['--reverse-deltas', '--keep-deltas', 'x', 'backup-end', 'snapshot', '100'], { VMTYPE: 'qemu', TARGET: backup(dir, 101, 1) }, { log: l => logs.push(l) })
  // A wrong hook option fails the job at backup-end with status 2, as for every hook option (spec/cli.md).
  t.equal(bad, 2, 'a bad --keep-deltas is a usage error')
  t.match(logs[logs.length - 1], /--keep-deltas takes a whole number/)
})
