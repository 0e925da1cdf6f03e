// Reverse deltas under vzdump's retention, night after night: the hook runs
// as vzdump runs it (an installed wrapper, `env -i` with vzdump's variables,
// every phase of a job), and between the archive being written and
// backup-end vzdump prunes (PVE::VZDump exec_backup_task: "prune older
// backups with retention", then run_hook_script('backup-end')). After every
// night, every backup left in the dump directory must restore: a full
// archive by Proxmox's `vma extract`, a delta by `apply` along its chain and
// then `vma extract`, both to the exact sums of the day's disk and config.
// Nights go wrong as they do in the field: a damaged archive, no space, a
// name already taken, a file deleted by hand.

import t from 'tap'
import type { Test } from 'tap'
import { skipHere } from './tools.js'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, rmSync, statfsSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { apply } from '../src/delta/apply.js'
import { readGuestChains } from '../src/delta/backup-chains.js'
import { expectedOptimized, makeContent, makeVma } from './fixtures/make-vma.js'
import { BIN, cliEnv } from './helpers.js'
import { proxmoxReads, proxmoxVma } from './proxmox-vma.js'

const vma = proxmoxVma()
const VMID = '100'
const SIZE = 1048576 + 8192
const stamp = (day: number) => `2026_11_${String(10 + day).padStart(2, '0')}-01_00_00`
const archiveName = (day: number) => `vzdump-qemu-${VMID}-${stamp(day)}.vma`
const deltaName = (day: number) => `vzdump-qemu-${VMID}-${stamp(day)}.vma-delta`
/** 2026-11-10 01:00:00 UTC: day d's backup is made at 01:00 on the (10+d)th, as its name says. */
const CTIME0 = 1794272400
const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex')

/** Day `day` of the guest: a few clusters change every day. */
function dayContent(day: number) {
  const data = makeContent(SIZE, 7)
  for (let d = 1; d <= day; d++) data.fill(d, (d % 7) * 131072 + d * 4096, (d % 7) * 131072 + d * 4096 + 20000)
  const config = `boot: order=scsi0\nmemory: 2048\n# day ${day}\n`
  const spec = { devices: [{ name: 'drive-scsi0', size: SIZE, data }], configs: [{ name: 'qemu-server.conf', data: config }], ctime: CTIME0 + day * 86400 }
  return { spec, sums: { devices: { 'drive-scsi0': sha(data) }, configs: { 'qemu-server.conf': sha(config) } } }
}

/**
 * vzdump's prune with keep-last=N (pve-storage prune_mark_backup_group and
 * archive_remove): the guest's backups with standard names
 * (vzdump-qemu-VMID-TIME.vma[.zst|.gz|.lzo]; deltas are not backups to it),
 * newest first by the time in the name; a backup with NAME.protected beside
 * it is marked protected and neither counted nor removed; the first N of the
 * others are kept, the rest removed with their .log and .notes files.
 */
function vzdumpPrune(dir: string, keepLast: number): string[] {
  const re = new RegExp(`^vzdump-qemu-${VMID}-(\\d{4}_\\d\\d_\\d\\d-\\d\\d_\\d\\d_\\d\\d)\\.vma(\\.(zst|gz|lzo))?$`)
  const backups = readdirSync(dir)
    .map(name => ({ name, m: re.exec(name) }))
    .filter(b => b.m)
    .sort((a, b) => (a.m![1]! < b.m![1]! ? 1 : -1))
  const removed: string[] = []
  let kept = 0
  for (const b of backups) {
    if (existsSync(join(dir, `${b.name}.protected`))) continue
    if (kept++ < keepLast) continue
    unlinkSync(join(dir, b.name))
    rmSync(join(dir, `vzdump-qemu-${VMID}-${b.m![1]}.log`), { force: true })
    rmSync(join(dir, `${b.name}.notes`), { force: true })
    removed.push(b.name)
  }
  return removed
}

interface Night {
  status: number | null
  log: string
  pruned: string[]
}

/** One night of a backup job: vzdump writes the archive, prunes, and runs the hook's phases. */
function night(hook: string, dir: string, day: number, keepLast: number, o: { archive?: Buffer; beforeHook?: () => void } = {}): Night {
  const target = join(dir, archiveName(day))
  writeFileSync(target, o.archive ?? makeVma({ ...dayContent(day).spec, order: 'shuffled', seed: day }).buf)
  const pruned = vzdumpPrune(dir, keepLast)
  o.beforeHook?.()
  const logfile = join(dir, `vzdump-qemu-${VMID}-${stamp(day)}.log`)
  const vars = { LC_ALL: 'C', STOREID: 'local', DUMPDIR: dir, VMTYPE: 'qemu', HOSTNAME: 'web1', TARGET: target, LOGFILE: logfile }
  const run = (args: string[], env: Record<string, string>) => {
    const r = spawnSync('/usr/bin/env', ['-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), hook, ...args], { encoding: 'utf8' })
    return { status: r.status, log: r.stdout + r.stderr }
  }
  run(['job-start'], { LC_ALL: 'C', STOREID: 'local', DUMPDIR: dir })
  run(['backup-start', 'snapshot', VMID], vars)
  const end = run(['backup-end', 'snapshot', VMID], vars)
  writeFileSync(logfile, `INFO: Starting Backup of VM ${VMID}\n${end.log}`)
  run(['log-end', 'snapshot', VMID], vars)
  run(['job-end'], { LC_ALL: 'C', STOREID: 'local' })
  return { ...end, pruned }
}

function install(t: Test, dir: string, extra: string[]): string {
  const hook = join(dir, 'vzdump-vma-opt')
  const r = spawnSync(BIN, ['hook', 'install', '--path', hook, '--reverse-deltas', ...extra], { env: cliEnv(), encoding: 'utf8' })
  t.equal(r.status, 0, `hook install ${r.stderr}`)
  return hook
}

const dayOf = (name: string) => Number(/-2026_11_(\d\d)-/.exec(name)![1]) - 10

/**
 * Every backup in `dir` restores to its day's sums, but `damaged` (archives
 * vzdump wrote damaged) and `broken` (deltas whose chain a person cut).
 */
async function assertEveryBackupRestores(t: Test, dir: string, work: string, label: string, o: { damaged?: string[]; broken?: string[] } = {}) {
  if (!vma.ok) return
  const chains = await readGuestChains(dir, VMID)
  for (const a of chains.archives) {
    if (o.damaged?.includes(a.name)) continue
    const v = proxmoxReads(vma.path, join(dir, a.name), work)
    t.same({ problems: v.problems, devices: v.extracted?.devices, configs: v.extracted?.configs }, { problems: [], ...dayContent(dayOf(a.name)).sums }, `${label}: ${a.name} restores by vma extract`)
  }
  for (const d of chains.deltas) {
    if (o.broken?.includes(d.name)) {
      t.notOk(chains.rootOf.has(d.name), `${label}: ${d.name} is known not to apply`)
      continue
    }
    const root = chains.rootOf.get(d.name)
    t.ok(root, `${label}: ${d.name} has a full archive to apply to`)
    if (!root) continue
    const path: string[] = []
    for (let at: string | undefined = d.name; at && at !== root; at = chains.parentOf.get(at)) path.unshift(join(dir, at))
    const out = join(work, `restored-${d.name}.vma`)
    await apply(join(dir, root), path, out)
    const v = proxmoxReads(vma.path, out, work)
    rmSync(out)
    t.same(
      { problems: v.problems, devices: v.extracted?.devices, configs: v.extracted?.configs },
      { problems: [], ...dayContent(dayOf(d.name)).sums },
      `${label}: ${d.name} restores by apply ${basenames(root, path)} and vma extract`,
    )
  }
}

const basenames = (root: string, path: string[]) => [root, ...path.map(p => p.slice(p.lastIndexOf('/') + 1))].join(' ')

function setup(t: Test, extra: string[] = []) {
  const top = t.testdir({ dump: {}, work: {} })
  return { dir: join(top, 'dump'), work: join(top, 'work'), hook: install(t, top, extra) }
}

const skip = vma.ok ? false : vma.reason

t.test('a damaged night: the chain end stays protected through the prunes, the next good night links it up', { skip }, async t => {
  const { dir, work, hook } = setup(t)
  for (const day of [1, 2]) t.equal(night(hook, dir, day, 2).status, 0)
  t.ok(existsSync(join(dir, deltaName(1))), 'day 1 is a delta against day 2')
  t.ok(existsSync(join(dir, `${archiveName(2)}.protected`)), 'day 2, the end of the chain, is protected from the prune')
  const bad = makeVma({ ...dayContent(3).spec, order: 'shuffled', seed: 3 }).buf
  const n3 = night(hook, dir, 3, 2, { archive: bad.subarray(0, bad.length - 70000) })
  t.equal(n3.status, 1, 'the damaged backup fails')
  t.match(n3.log, /ERROR: .* is damaged/)
  await assertEveryBackupRestores(t, dir, work, 'night 3', { damaged: [archiveName(3)] })
  const n4 = night(hook, dir, 4, 2)
  t.same(n4.pruned, [], 'vzdump keeps day 3 and 4 and may not touch day 2')
  t.equal(n4.status, 0, n4.log)
  t.match(n4.log, new RegExp(`${archiveName(2)} is now the reverse delta ${deltaName(2)} .*proven against ${archiveName(4)}`))
  t.match(n4.log, new RegExp(`WARNING: ${archiveName(3)} was not turned into a reverse delta: .*\\(VMA_[A-Z_]+\\); it was left as it is\\n`))
  t.notOk(existsSync(join(dir, `${archiveName(2)}.protected`)), 'the protection went with the archive')
  await assertEveryBackupRestores(t, dir, work, 'night 4', { damaged: [archiveName(3)] })
  const n5 = night(hook, dir, 5, 2)
  t.same(n5.pruned, [], 'keep-last=2 counts day 5 and the damaged day 3 (day 4 is protected)')
  t.equal(n5.status, 0, n5.log)
  t.notMatch(n5.log, /WARNING/)
  t.same(
    readdirSync(dir)
      .filter(f => /\.vma(-delta)?$/.test(f))
      .sort(),
    [archiveName(3), archiveName(5), deltaName(1), deltaName(2), deltaName(4)].sort(),
  )
  await assertEveryBackupRestores(t, dir, work, 'night 5', { damaged: [archiveName(3)] })
})

t.test('no space for the delta: nothing is orphaned, the next night relinks', { skip }, async t => {
  const { work, hook } = setup(t)
  // A small file system of its own, released however the test ends.
  const dir = mkdtempSync(join(tmpdir(), 'vma-opt-nospace-'))
  t.teardown(() => {
    spawnSync('umount', [dir])
    rmSync(dir, { recursive: true, force: true })
  })
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { encoding: 'utf8' })
  if (m.status !== 0) {
    skipHere(t, `cannot mount a tmpfs here: ${m.stderr}`)
    return
  }
  for (const day of [1, 2]) t.equal(night(hook, dir, day, 1).status, 0)
  // Night 3's archive needs no optimizing; the disk is full but for a few KiB.
  const filler = join(dir, 'filler')
  const n3 = night(hook, dir, 3, 1, {
    archive: expectedOptimized(dayContent(3).spec),
    beforeHook: () => {
      const s = statfsSync(dir)
      writeFileSync(filler, Buffer.alloc(Math.max(0, s.bavail * s.bsize - 16384)))
    },
  })
  t.equal(n3.status, 0, 'the backup itself is fine')
  t.match(n3.log, new RegExp(`WARNING: ${archiveName(2)} was not turned into a reverse delta: .*no space left.*protected, with the deltas that apply to it`))
  unlinkSync(filler)
  t.same(
    readdirSync(dir).filter(f => f.startsWith('.')),
    [],
    'no temp file left',
  )
  await assertEveryBackupRestores(t, dir, work, 'night 3')
  // keep-last=1, and yet vzdump prunes neither day 2 (the chain end) nor day 3 (the next one to convert).
  const n4 = night(hook, dir, 4, 1)
  t.same(n4.pruned, [])
  t.equal(n4.status, 0, n4.log)
  t.match(
    n4.log,
    new RegExp(
      `${archiveName(2)} is now the reverse delta ${deltaName(2)} .*proven against ${archiveName(3)}\n.*${archiveName(3)} is now the reverse delta ${deltaName(3)} .*proven against ${archiveName(4)}\n`,
    ),
    'linked up oldest first: one chain again',
  )
  await assertEveryBackupRestores(t, dir, work, 'night 4')
  t.same(
    readdirSync(dir)
      .filter(f => /\.vma(-delta)?$/.test(f))
      .sort(),
    [archiveName(4), deltaName(1), deltaName(2), deltaName(3)].sort(),
  )
})

t.test('the delta name is taken: the chain end is kept until the name is free, then linked', { skip }, async t => {
  const { dir, work, hook } = setup(t)
  for (const day of [1, 2]) t.equal(night(hook, dir, day, 2).status, 0)
  const taken = join(dir, deltaName(2))
  for (const day of [3, 4]) {
    const n = night(hook, dir, day, 2, { beforeHook: () => writeFileSync(taken, 'a file someone left here\n') })
    t.equal(n.status, 0, n.log)
    t.same(n.pruned, [], `night ${day}: the chain end (day 2) is not pruned`)
    t.match(n.log, new RegExp(`WARNING: ${archiveName(2)} was not turned into a reverse delta: ${deltaName(2)} already exists`))
    t.match(n.log, new RegExp(`WARNING: ${deltaName(2)} is named like a reverse delta of VM 100 but cannot be read: .*; move it away, or delete it\\n`), 'the stray file is named')
    await assertEveryBackupRestores(t, dir, work, `night ${day}`, { broken: [deltaName(2)] })
  }
  unlinkSync(taken)
  const n5 = night(hook, dir, 5, 2)
  t.equal(n5.status, 0, n5.log)
  t.notMatch(n5.log, /WARNING/)
  t.same(
    readdirSync(dir)
      .filter(f => /\.vma(-delta)?$/.test(f))
      .sort(),
    [archiveName(5), deltaName(1), deltaName(2), deltaName(3), deltaName(4)].sort(),
    'every day is kept',
  )
  t.same(
    readdirSync(dir).filter(f => f.endsWith('.protected')),
    [`${archiveName(5)}.protected`],
    'only the chain end is protected',
  )
  await assertEveryBackupRestores(t, dir, work, 'night 5')
})

t.test('a file deleted by hand: a warning every night until it is mended; --keep-deltas counts only deltas that apply', { skip }, async t => {
  const { dir, work, hook } = setup(t, ['--keep-deltas', '2'])
  for (const day of [1, 2, 3, 4]) t.equal(night(hook, dir, day, 2).status, 0)
  t.same(
    readdirSync(dir)
      .filter(f => /\.vma(-delta)?$/.test(f))
      .sort(),
    [archiveName(4), deltaName(2), deltaName(3)].sort(),
  )
  unlinkSync(join(dir, deltaName(3)))
  for (const day of [5, 6]) {
    const n = night(hook, dir, day, 2)
    t.equal(n.status, 0, n.log)
    t.match(n.log, new RegExp(`WARNING: reverse delta of VM 100 cannot be restored: ${deltaName(2)} needs the backup made 2026-11-13 01:00:00 UTC, which is not in ${dir}`), `night ${day} says so`)
    await assertEveryBackupRestores(t, dir, work, `night ${day}`, { broken: [deltaName(2)] })
  }
  t.same(
    readdirSync(dir)
      .filter(f => /\.vma(-delta)?$/.test(f))
      .sort(),
    [archiveName(6), deltaName(2), deltaName(4), deltaName(5)].sort(),
    'two deltas that apply are kept, the broken one is not counted',
  )
  unlinkSync(join(dir, deltaName(2)))
  const n7 = night(hook, dir, 7, 2)
  t.notMatch(n7.log, /WARNING/, 'mended: no more warnings')
  await assertEveryBackupRestores(t, dir, work, 'night 7')
})
