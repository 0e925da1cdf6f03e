// The lock on a file a run replaces (util/file-lock), with real processes:
// two CLI runs on one archive, a claim left by a SIGKILLed run, a read-only
// directory, and the vzdump hook (optimize and reverse-delta conversion)
// waiting for a run that holds its files. Events are awaited (a claim file
// appearing, a "waiting" line), never timed; a run is held still with
// SIGSTOP where the order of events must be certain.

import t from 'tap'
import { skipHere } from './tools.js'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { expectedOptimized, makeContent, makeVma } from './fixtures/make-vma.js'
import { BIN, ROOT, cliEnv } from './helpers.js'

const devices = [{ name: 'drive-scsi0', size: 4 << 20, data: makeContent(4 << 20, 3) }]
const built = makeVma({ devices, order: 'shuffled', seed: 5 })
const optimizedFixed = expectedOptimized({ devices })
const optimizedKept = expectedOptimized({ devices }, built.uuid)
const NAME = 'vzdump-qemu-100-2026_11_21-22_46_19.vma'

const dotFiles = (dir: string) => readdirSync(dir).filter(f => f.startsWith('.'))
const claimOf = (dir: string, pid: number) => readdirSync(dir).find(f => f.startsWith(`.${NAME}.vma-opt-${pid}-`) && f.endsWith('.lock'))

/** Polls for an event (a file appearing): the test's own timeout is the limit, not a clock. */
async function until<T>(what: () => T | undefined, child?: ChildProcess): Promise<T> {
  for (;;) {
    const v = what()
    if (v !== undefined && v !== false) return v
    if (child && child.exitCode !== null) throw new Error(`the process ended (${child.exitCode}) before the event`)
    await sleep(20)
  }
}

function run(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { env: cliEnv() })
  let out = ''
  child.stdout!.on('data', c => (out += c))
  child.stderr!.on('data', c => (out += c))
  const done = new Promise<number | null>(res => child.on('close', code => res(code)))
  return { child, done, output: () => out }
}

/** A process that holds the lock on `file` until its stdin ends, as another vma-opt run would. */
async function holder(file: string) {
  const lockUrl = pathToFileURL(join(ROOT, 'dist', 'src', 'util', 'file-lock.js')).href
  const code = `const { lockFile } = await import(${JSON.stringify(lockUrl)}); const l = await lockFile(${JSON.stringify(file)}); process.stdout.write('held\\n'); process.stdin.on('end', () => { l.release(); process.exit(0) }); process.stdin.resume()`
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { env: cliEnv() })
  let out = ''
  child.stdout!.on('data', c => (out += c))
  child.stderr!.on('data', c => (out += c))
  await until(() => out.includes('held') || undefined, child)
  return { child, release: () => new Promise<void>(res => (child.on('close', () => res()), child.stdin!.end())) }
}

t.test('two CLI runs on one file: the second exits 1 naming the first, or waits with --wait', async t => {
  const dir = t.testdir()
  const f = join(dir, NAME)
  writeFileSync(f, built.buf)
  const a = run(['optimize', '--keep-uuid', f])
  t.teardown(() => void a.child.kill('SIGKILL'))
  await until(() => claimOf(dir, a.child.pid!), a.child)
  a.child.kill('SIGSTOP') // A holds the lock and stays still

  const b = spawnSync(process.execPath, [BIN, 'optimize', f], { env: cliEnv(), encoding: 'utf8' })
  t.equal(b.status, 1, 'the second run exits 1 at once')
  t.equal(b.stdout, '', 'and reports no result')
  t.match(
    b.stderr,
    new RegExp(
      `^vma-opt: .*${NAME} is in use by another vma-opt run \\(PID ${a.child.pid}: vma-opt optimize --keep-uuid .*${NAME}\\); try again when it has finished, or use --wait \\(VMA_LOCKED\\)\\n$`,
    ),
  )

  const w = run(['optimize', '--wait', f])
  await until(() => (w.output().includes('waiting') ? true : undefined), w.child)
  t.match(w.output(), new RegExp(`^vma-opt: waiting: .*${NAME} is in use by another vma-opt run \\(PID ${a.child.pid}: `))
  a.child.kill('SIGCONT')
  t.equal(await a.done, 0, 'the first run finishes')
  t.equal(await w.done, 0, w.output())
  // In that order: A kept the uuid, then the waiting run gave the fixed one.
  t.ok(readFileSync(f).equals(optimizedFixed), 'the file holds the result of the run that finished last')
  t.ok(!readFileSync(f).equals(optimizedKept))
  t.same(dotFiles(dir), [], 'no claim or temp file is left')
})

t.test('a claim left by a SIGKILLed run is stale: the next run goes ahead and removes it', async t => {
  const dir = t.testdir()
  const f = join(dir, NAME)
  writeFileSync(f, built.buf)
  const a = run(['optimize', f])
  await until(() => claimOf(dir, a.child.pid!), a.child)
  a.child.kill('SIGKILL')
  await a.done
  t.ok(claimOf(dir, a.child.pid!), 'the killed run left its claim')
  const b = spawnSync(process.execPath, [BIN, 'optimize', f], { env: cliEnv(), encoding: 'utf8' })
  t.equal(b.status, 0, b.stderr)
  t.ok(readFileSync(f).equals(optimizedFixed))
  t.same(dotFiles(dir), [], 'the stale claim (and any temp file) is gone')
})

t.test('pack, apply and diff onto a name another run holds exit 1; --wait waits', async t => {
  const dir = t.testdir()
  const base = join(dir, 'base.vma')
  writeFileSync(base, optimizedFixed)
  const other = join(dir, 'new.vma')
  const changed = Buffer.from(devices[0]!.data)
  changed.fill(7, 65536, 65536 + 4096)
  writeFileSync(other, expectedOptimized({ devices: [{ ...devices[0]!, data: changed }] }))
  const delta = join(dir, 'd.vma-delta')
  const img = join(dir, 'disk.raw')
  writeFileSync(img, devices[0]!.data)
  const out = join(dir, 'out.vma')
  const h = await holder(delta)
  const d = spawnSync(process.execPath, [BIN, 'diff', base, other, delta], { env: cliEnv(), encoding: 'utf8' })
  t.equal(d.status, 1)
  t.match(d.stderr, /d\.vma-delta is in use by another vma-opt run \(PID \d+: .*\(VMA_LOCKED\)\n$/)
  const dw = run(['diff', '--wait', base, other, delta])
  await until(() => (dw.output().includes('waiting') ? true : undefined), dw.child)
  t.notOk(existsSync(delta), 'nothing written while it waits')
  await h.release()
  t.equal(await dw.done, 0, dw.output())
  t.ok(existsSync(delta))

  const h2 = await holder(out)
  for (const args of [
    ['apply', base, delta, out],
    ['pack', out, '--disk', `drive-scsi0=${img}`],
  ]) {
    const r = spawnSync(process.execPath, [BIN, ...args], { env: cliEnv(), encoding: 'utf8' })
    t.equal(r.status, 1, `${args[0]} exits 1`)
    t.match(r.stderr, /out\.vma is in use by another vma-opt run .*\(VMA_LOCKED\)\n$/)
    t.notOk(existsSync(out))
  }
  await h2.release()
  const r = spawnSync(process.execPath, [BIN, 'apply', base, delta, out], { env: cliEnv(), encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
  t.same(dotFiles(dir), [])
})

t.test('a read-only directory: no lock can be taken, and a run that only reads still works', async t => {
  // Its own temp dir: the bind mount is released before the dir is removed, however the test ends.
  const dir = mkdtempSync(join(tmpdir(), 'vma-opt-lock-ro-'))
  const rw = join(dir, 'rw')
  const ro = join(dir, 'ro')
  mkdirSync(rw)
  mkdirSync(ro)
  t.teardown(() => {
    spawnSync('umount', [ro])
    rmSync(dir, { recursive: true, force: true })
  })
  writeFileSync(join(rw, NAME), optimizedFixed)
  const m = spawnSync('mount', ['--bind', rw, ro])
  if (m.status !== 0) {
    skipHere(t, `cannot bind-mount here: ${m.stderr}`)
    return
  }
  spawnSync('mount', ['-o', 'remount,ro,bind', ro])
  const r = spawnSync(process.execPath, [BIN, 'optimize', join(ro, NAME)], { env: cliEnv(), encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /already optimized/)
})

/** The hook as vzdump runs it (env -i, vzdump's variables), its output read as it comes. */
function hookRun(hook: string, dump: string, target: string) {
  const vars = { LC_ALL: 'C', STOREID: 'local', DUMPDIR: dump, VMTYPE: 'qemu', HOSTNAME: 'web1', TARGET: target, LOGFILE: join(dump, 'x.log') }
  const child = spawn('/usr/bin/env', ['-i', ...Object.entries(vars).map(([k, v]) => `${k}=${v}`), hook, 'backup-end', 'snapshot', '100'])
  let out = ''
  child.stdout!.on('data', c => (out += c))
  child.stderr!.on('data', c => (out += c))
  const done = new Promise<number | null>(res => child.on('close', code => res(code)))
  return { child, done, output: () => out }
}

t.test('the hook waits for a run that holds the new backup, then optimizes it', async t => {
  const dir = t.testdir({ dump: {} })
  const dump = join(dir, 'dump')
  const hook = join(dir, 'hook')
  t.equal(spawnSync(BIN, ['hook', 'install', '--path', hook], { env: cliEnv() }).status, 0)
  const target = join(dump, NAME)
  writeFileSync(target, built.buf)
  const h = await holder(target)
  const run = hookRun(hook, dump, target)
  await until(() => (run.output().includes('waiting') ? true : undefined), run.child)
  t.match(run.output(), new RegExp(`^vma-opt: waiting: .*${NAME} is in use by another vma-opt run \\(PID ${h.child.pid}: `))
  t.ok(readFileSync(target).equals(built.buf), 'untouched while the other run holds it')
  await h.release()
  t.equal(await run.done, 0, run.output())
  t.match(run.output(), /optimized in .* proven unchanged/)
  t.ok(readFileSync(target).equals(optimizedFixed))
  t.same(dotFiles(dump), [])
})

t.test('the reverse-delta conversion waits for a run that holds the previous backup', async t => {
  const dir = t.testdir({ dump: {} })
  const dump = join(dir, 'dump')
  const hook = join(dir, 'hook')
  t.equal(spawnSync(BIN, ['hook', 'install', '--path', hook, '--reverse-deltas'], { env: cliEnv() }).status, 0)
  const prevName = 'vzdump-qemu-100-2026_11_20-22_46_19.vma'
  const prev = join(dump, prevName)
  writeFileSync(prev, optimizedFixed)
  const target = join(dump, NAME)
  writeFileSync(target, built.buf)
  const h = await holder(prev)
  const run = hookRun(hook, dump, target)
  await until(() => (run.output().includes('waiting') ? true : undefined), run.child)
  t.match(run.output(), new RegExp(`vma-opt: waiting: .*${prevName} is in use by another vma-opt run \\(PID ${h.child.pid}: `))
  t.ok(readFileSync(prev).equals(optimizedFixed), 'the previous backup is still there while the other run holds it')
  t.notOk(existsSync(join(dump, 'vzdump-qemu-100-2026_11_20-22_46_19.vma-delta')))
  // Meanwhile the hook holds the new backup: a CLI run on it is told which program does.
  const busy = spawnSync(process.execPath, [BIN, 'optimize', target], { env: cliEnv(), encoding: 'utf8' })
  t.equal(busy.status, 1)
  t.match(busy.stderr, new RegExp(`${NAME} is in use by another vma-opt run \\(PID ${run.child.pid}: vma-opt vzdump hook --reverse-deltas backup-end snapshot 100\\)`), 'the claim names the hook')
  await h.release()
  t.equal(await run.done, 0, run.output())
  t.match(run.output(), new RegExp(`${prevName} is now the reverse delta`))
  t.notOk(existsSync(prev))
  t.same(dotFiles(dump), [])
})
