// SIGKILL, which no process can clean up after (issue #10, item 4): the
// decompressors and compressors vma-opt starts die with it; an in-place
// optimize killed at any moment leaves SRC as it was or completely optimized;
// and the next run removes what a killed run left behind, but never the
// files of a run that is still alive (or of another host).

import t from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, readdirSync, readlinkSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { expectedOptimized, makeContent, makeVma, rng } from './fixtures/make-vma.js'
import { BIN, cliEnv } from './helpers.js'
import { findTool } from './tools.js'

const files = (dir: string) => readdirSync(dir).sort()
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

/** State of a process (R, S, T, Z...), or undefined when it is gone. */
function procState(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return s.slice(s.lastIndexOf(')') + 2)[0]
  } catch {
    return undefined
  }
}
const alive = (pid: number) => {
  const s = procState(pid)
  return s !== undefined && s !== 'Z' && s !== 'X'
}

/** The running children of `pid` named `comm`. */
function childrenOf(pid: number, comm: string): number[] {
  const out: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8')
      const name = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'))
      const ppid = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid && name === comm && alive(Number(d))) out.push(Number(d))
    } catch {
      // gone meanwhile
    }
  }
  return out
}

/** Running `sleep` processes started by the stand-in lzop of `dir`. */
function sleepers(dir: string): number[] {
  const out: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || !alive(Number(d))) continue
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').startsWith('sleep\u00001000') && readlinkSync(`/proc/${d}/cwd`) === dir) out.push(Number(d))
    } catch {
      // gone meanwhile
    }
  }
  return out
}

const exited = (c: ChildProcess) => new Promise<number | null>(r => (c.exitCode !== null || c.signalCode !== null ? r(c.exitCode) : c.on('close', code => r(code))))

// Content zstd squeezes well, so the plain stream is much larger than the file.
const bigDevices = [{ name: 'drive-scsi0', size: 48 << 20, data: Buffer.alloc(48 << 20, 'vma-opt kill test ') }]

t.test('children die with vma-opt on SIGKILL', { skip: !findTool('zstd') && 'needs zstd' }, async t => {
  const dir = t.testdir()
  const plain = join(dir, 'big.vma')
  writeFileSync(plain, makeVma({ devices: bigDevices, order: 'shuffled' }).buf)
  t.equal(spawnSync('zstd', ['-q', '-k', '-1', plain]).status, 0)
  const cases: { what: string; args: string[]; env: Record<string, string>; cont?: boolean }[] = [
    // zstd -d reads the file itself and writes the spool file itself: nothing of ours it would notice.
    { what: 'zstd -d filling the spool', args: ['optimize', '--spool', `${plain}.zst`, join(dir, 'a.vma')], env: { VMA_OPT_ZSTD_DECODER: 'program' } },
    { what: 'zstd compressing the output', args: ['optimize', plain, join(dir, 'b.vma.zst')], env: {} },
    // Without setpriv the decompressor writes through a pipe to us instead, and dies of SIGPIPE.
    { what: 'zstd -d, no setpriv', args: ['optimize', '--spool', `${plain}.zst`, join(dir, 'c.vma')], env: { VMA_OPT_NO_SETPRIV: '1', VMA_OPT_ZSTD_DECODER: 'program' }, cont: true },
    { what: 'zstd compressing, no setpriv', args: ['optimize', plain, join(dir, 'd.vma.zst')], env: { VMA_OPT_NO_SETPRIV: '1' }, cont: true },
  ]
  for (const c of cases) {
    let kids: number[] = []
    // The child may come and go quickly on a fast machine: try a few times to catch it running.
    for (let attempt = 0; attempt < 5 && !kids.length; attempt++) {
      const run = spawn(BIN, c.args, { env: cliEnv(c.env), stdio: 'ignore' })
      for (let i = 0; i < 3000 && !kids.length && run.exitCode === null; i++) {
        kids = childrenOf(run.pid!, 'zstd')
        if (!kids.length) await sleep(2)
      }
      // Freeze the children, so that only being killed (not finishing their work) ends them.
      for (const k of kids) process.kill(k, 'SIGSTOP')
      run.kill('SIGKILL')
      await exited(run)
      if (c.cont) for (const k of kids) if (alive(k)) process.kill(k, 'SIGCONT')
    }
    t.ok(kids.length, `${c.what}: caught a child running`)
    let left = kids
    for (let i = 0; i < 40 && left.length; i++) {
      await sleep(50)
      left = kids.filter(alive)
    }
    t.same(left, [], `${c.what}: no child survives vma-opt by 2 s`)
    for (const k of left) process.kill(k, 'SIGKILL')
  }
  // The next run removes what the killed ones left.
  t.equal(spawnSync(BIN, ['optimize', '--force', plain, join(dir, 'a.vma')], { env: cliEnv() }).status, 0)
  t.same(files(dir), ['a.vma', 'big.vma', 'big.vma.zst'], 'no temp or spool file left')
})

t.test('SIGKILL at random moments in place: SRC is the old archive or the proven new one, and the next run cleans up', async t => {
  const dir = t.testdir()
  const devices = [
    { name: 'drive-scsi0', size: 6 << 20, data: makeContent(6 << 20, 11) },
    { name: 'drive-efidisk0', size: 540672, data: makeContent(540672, 12) },
  ]
  const orig = makeVma({ devices, order: 'shuffled', seed: 5 }).buf
  const want = expectedOptimized({ devices })
  const forms = [{ name: 'a.vma', make: () => orig, plain: (b: Buffer) => b }]
  if (findTool('zstd')) {
    const z = spawnSync('zstd', ['-q', '-c', '-1'], { input: orig, maxBuffer: 64 << 20 }).stdout
    forms.push({ name: 'a.vma.zst', make: () => z, plain: (b: Buffer) => spawnSync('zstd', ['-dcq'], { input: b, maxBuffer: 64 << 20 }).stdout })
  }
  // How long one run takes here, to spread the kills over it.
  const src0 = join(dir, 'a.vma')
  writeFileSync(src0, orig)
  const t0 = Date.now()
  t.equal(spawnSync(BIN, ['optimize', src0], { env: cliEnv() }).status, 0)
  const span = Math.max(300, Date.now() - t0)
  const random = rng(20261129)
  const seen = { old: 0, new: 0 }
  const budget = Date.now() + 35_000
  for (let i = 0; i < 12 && Date.now() < budget; i++) {
    const f = forms[i % forms.length]!
    const src = join(dir, f.name)
    const before = f.make()
    writeFileSync(src, before)
    const delay = Math.floor(random() * span * 1.1)
    const run = spawn(BIN, ['optimize', src], { env: cliEnv(), stdio: 'ignore' })
    await sleep(delay)
    run.kill('SIGKILL')
    await exited(run)
    const now = readFileSync(src)
    if (now.equals(before)) seen.old++
    else {
      t.ok(f.plain(now).equals(want), `${f.name}, killed after ${delay} ms: SRC is the complete optimized archive`)
      const v = spawnSync(BIN, ['verify', '--data', src], { env: cliEnv() })
      t.equal(v.status, 0, `${f.name}: and it verifies`)
      seen.new++
    }
    const next = spawnSync(BIN, ['optimize', src], { env: cliEnv() })
    t.equal(next.status, 0, `${f.name}, killed after ${delay} ms: the next run succeeds`)
    t.same(files(dir), [f.name], `${f.name}, killed after ${delay} ms: the next run leaves no temp or spool file`)
    for (const other of files(dir)) if (other !== f.name) spawnSync('rm', ['-f', join(dir, other)])
    t.ok(f.plain(readFileSync(src)).equals(want), 'and SRC is optimized')
    spawnSync('rm', ['-f', src])
  }
  t.ok(seen.old + seen.new > 0, `killed runs: ${seen.old} left SRC as it was, ${seen.new} after it was replaced`)
})

t.test("the sweep removes only files of processes that are gone, never a live run's or another host's", async t => {
  const dir = t.testdir()
  writeFileSync(join(dir, 'a.vma'), makeVma({ devices: [{ name: 'drive-scsi0', size: 65536, data: makeContent(65536, 1) }] }).buf)
  const hex8 = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 8)
  const boot = hex8(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim())
  const host = hex8(`${hostname()} ${readlinkSync('/proc/self/ns/pid')}`) // this host, this PID namespace
  const startOf = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]!
  const dead = spawnSync('true').pid!
  const me = process.pid
  const name = (pid: number, start: string, b = boot, h = host, tag = 'tmp') => `.a.vma.vma-opt-${pid}-${start}-${b}-${h}-0123abcd.${tag}`
  const stale = [
    name(dead, '12345'), // its process is gone
    name(dead, '12345', boot, host, 'spool'),
    name(me, String(Number(startOf(me)) + 1)), // the PID is alive, but another process (recycled PID)
    name(me, startOf(me), 'deadbeef'), // from an earlier boot of this host
    `.a.vma.vma-opt-${dead}-0badf00d.tmp`, // the older naming, untouched for two days
  ]
  const kept = [
    name(me, startOf(me)), // a live run
    name(dead, '12345', boot, 'feedface'), // another host's, on shared storage
    `.a.vma.vma-opt-${dead}-1badf00d.tmp`, // older naming, written to recently
    '.a.vma.notes',
    'a.vma.vma-opt-1-2-3.tmp', // not hidden: not one of ours
  ]
  for (const n of [...stale, ...kept]) writeFileSync(join(dir, n), 'x')
  const twoDaysAgo = Date.now() / 1000 - 2 * 86400
  utimesSync(join(dir, stale[4]!), twoDaysAgo, twoDaysAgo)
  symlinkSync('a.vma', join(dir, name(dead, '1')))
  const r = spawnSync(BIN, ['optimize', join(dir, 'a.vma')], { env: cliEnv() })
  t.equal(r.status, 0, r.stderr.toString())
  for (const n of stale) t.notOk(existsSync(join(dir, n)), `removed: ${n}`)
  for (const n of kept) t.ok(existsSync(join(dir, n)), `kept: ${n}`)
  t.ok(existsSync(join(dir, name(dead, '1'))), 'a symlink is not a temp file of ours, whatever its name')
})

// A decompressor we have lost interest in must not keep vma-opt alive: the
// fuzzer once saw `info --json` on a damaged .lzo print its error and then not
// exit (test/fuzz/known/info-json-lzo-hang). A stand-in lzop that shrugs off
// SIGTERM (and then writes nothing more, so no SIGPIPE ends it either) makes
// that deterministic.
t.test('a decompressor that will not stop cannot keep vma-opt from exiting', async t => {
  const dir = t.testdir({ bin: {} })
  const fake = join(dir, 'bin', 'lzop')
  writeFileSync(fake, "#!/bin/sh\ntrap '' TERM\nprintf 'not a vma archive, and then silence'\nexec sleep 1000\n", { mode: 0o755 })
  const src = join(dir, 'x.vma.lzo')
  writeFileSync(src, Buffer.concat([Buffer.from([0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(4096, 7)]))
  const env = cliEnv({ PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}` })
  for (const args of [
    ['info', '--json', src],
    ['verify', '--data', src],
    ['optimize', src, join(dir, 'out.vma')],
  ]) {
    const run = spawn(BIN, args, { env, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    run.stderr!.on('data', d => (stderr += d))
    const t0 = Date.now()
    const timer = setTimeout(() => run.kill('SIGKILL'), 20_000)
    const code = await exited(run)
    clearTimeout(timer)
    t.equal(code, 1, `${args[0]}: exits 1 (not killed after 20 s), in ${Date.now() - t0} ms`)
    t.match(stderr, /x\.vma\.lzo/, `${args[0]}: says what is wrong: ${stderr.trim()}`)
  }
  // setpriv's --pdeathsig, or the pipe, ends the stand-in once vma-opt is gone.
  let left: number[] = []
  for (let i = 0; i < 40; i++) {
    left = sleepers(dir)
    if (!left.length) break
    await sleep(50)
  }
  t.same(left, [], 'the stand-in decompressors are gone')
  for (const k of left) process.kill(k, 'SIGKILL')
  t.same(readdirSync(dir).sort(), ['bin', 'x.vma.lzo'], 'no temp file left')
})
