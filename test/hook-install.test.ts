// hook install / uninstall (issue #10, item 6): the wrapper vzdump runs, with
// paths that break naive quoting, a wrapper whose node is gone, refusing
// files vma-opt did not write, vzdump.conf edits that keep the user's
// original, packaged mode's options file, and integer options checked at
// parse time. Wrappers run the way vzdump runs them: `env -i`, no PATH.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expectedOptimized, makeContent, makeVma } from './fixtures/make-vma.js'
import { ROOT, cliEnv, cliInProcess } from './helpers.js'
import { CHECKOUT_WRAPPER, installHook } from '../src/hook/install-hook.js'
import { PACKAGED_OPTIONS, PACKAGED_WRAPPER } from '../src/hook/packaged.js'
import { uninstallHook } from '../src/hook/uninstall-hook.js'
import { optionsFileArgs } from '../src/hook/hook-options.js'
import { wrapperScript } from '../src/hook/wrapper-script.js'

const devices = [{ name: 'drive-scsi0', size: 1 << 20, data: makeContent(1 << 20, 3) }]
const BASE = 'vzdump-qemu-100-2026_11_21-22_46_19'
/** A checkout path with a run of spaces, a quote and a $ in it. */
const WEIRD = `two  spa'ces $HOME "q"`

/** The built hook entry (in-process, the source's would be a .ts file). */
const ENTRY = join(ROOT, 'dist', 'src', 'hook', 'hook-main.js')

const cli = (...args: string[]) => cliInProcess(args)

/** Runs a hook wrapper the way vzdump does. */
function vzdump(hook: string, phase: string[], vars: Record<string, string> = {}) {
  const env = Object.entries({ LC_ALL: 'C', ...vars }).map(([k, v]) => `${k}=${v}`)
  const r = spawnSync('/usr/bin/env', ['-i', ...env, hook, ...phase], { encoding: 'utf8' })
  return { status: r.status, out: r.stdout, err: r.stderr }
}

function dump(dir: string) {
  mkdirSync(join(dir, 'dump'), { recursive: true })
  const target = join(dir, 'dump', `${BASE}.vma`)
  const v = makeVma({ devices, order: 'interleaved' })
  writeFileSync(target, v.buf)
  return { target, uuid: v.uuid, vars: { STOREID: 'local', DUMPDIR: join(dir, 'dump'), VMTYPE: 'qemu', TARGET: target } }
}

/** A stand-in for node that prints the arguments it got, one per line between brackets. */
function argvProbe(dir: string): string {
  const p = join(dir, 'print-args')
  writeFileSync(p, `#!/bin/sh\nfor a in "$@"; do printf '[%s]\\n' "$a"; done\n`, { mode: 0o755 })
  return p
}

t.test('paths and options with runs of spaces, quotes and $ reach node exactly', async t => {
  const dir = join(t.testdir(), WEIRD)
  mkdirSync(dir)
  const tmpdir = join(dir, `spool  ' $PATH`)
  const hook = join(dir, 'hook dir', 'vzdump-vma-opt')
  mkdirSync(join(dir, 'hook dir'))
  const r = installHook({ path: hook, node: argvProbe(dir), entry: ENTRY, tmpdir, zstdThreads: 3, keepUuid: true, packaged: false })
  t.equal(r.path, hook)
  const run = vzdump(hook, ['backup-end', 'snapshot', '100'])
  t.equal(run.status, 0)
  t.equal(run.out, [ENTRY, '--keep-uuid', '--zstd-threads', '3', '--tmpdir', tmpdir, 'backup-end', 'snapshot', '100'].map(a => `[${a}]\n`).join(''))
})

t.test('a checkout under such a path works as vzdump runs it', async t => {
  const root = join(t.testdir(), WEIRD, 'vma-opt')
  mkdirSync(root, { recursive: true })
  cpSync(join(ROOT, 'dist', 'src'), join(root, 'dist', 'src'), { recursive: true })
  cpSync(join(ROOT, 'bin'), join(root, 'bin'), { recursive: true })
  cpSync(join(ROOT, 'package.json'), join(root, 'package.json'))
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'))
  const hook = join(root, '..', 'vzdump-vma-opt')
  const i = spawnSync(process.execPath, [join(root, 'bin', 'vma-opt'), 'hook', 'install', '--path', hook], { env: cliEnv(), encoding: 'utf8' })
  t.equal(i.status, 0, i.stderr)
  t.match(readFileSync(hook, 'utf8'), `entry='${root.replace(/'/g, `'\\''`)}/dist/src/hook/hook-main.js'`)
  const { target, vars } = dump(join(root, '..'))
  const r = vzdump(hook, ['backup-end', 'snapshot', '100'], vars)
  t.equal(r.status, 0, r.out + r.err)
  t.match(r.out, /optimized in .* s: .*1 device proven unchanged/)
  t.ok(readFileSync(target).equals(expectedOptimized({ devices })), 'the archive is now the optimized form')
})

t.test('a wrapper whose node is gone: every phase but backup-end exits 0 silently; backup-end warns', async t => {
  const dir = t.testdir()
  const hook = join(dir, 'vzdump-vma-opt')
  installHook({ path: hook, node: join(dir, 'no', 'node'), entry: ENTRY, packaged: false })
  for (const phase of [['job-init'], ['job-start'], ['backup-start', 'snapshot', '100'], ['log-end', 'snapshot', '100'], ['job-end'], ['job-abort']]) {
    const r = vzdump(hook, phase)
    t.same([r.status, r.out, r.err], [0, '', ''], phase.join(' '))
  }
  const end = vzdump(hook, ['backup-end', 'snapshot', '100'])
  t.equal(end.status, 0, 'the backup is not failed for it')
  t.match(end.out, /^vma-opt: WARNING: .*\/no\/node or .*hook-main\.js is missing; the backup was left as it is/)
  const strict = join(dir, 'strict')
  installHook({ path: strict, node: join(dir, 'no', 'node'), entry: ENTRY, strict: true, packaged: false })
  t.equal(vzdump(strict, ['job-init']).status, 0)
  t.equal(vzdump(strict, ['backup-end', 'snapshot', '100']).status, 3, '--strict fails it')
})

t.test('the default wrapper path is not an npm bin name', async t => {
  const help = (await cli('hook', 'install', '--help')).stdout.replace(/\s+/g, ' ')
  t.match(help, 'default /usr/local/sbin/vzdump-vma-opt')
  const bins = Object.keys(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).bin)
  t.notOk(bins.includes('vzdump-vma-opt'))
})

t.test('a file vma-opt did not write is neither replaced nor deleted', async t => {
  const dir = t.testdir({ 'their-hook': '#!/bin/sh\nexit 0\n', 'vzdump.conf': 'script: /x/y\n' })
  const theirs = join(dir, 'their-hook')
  const conf = join(dir, 'vzdump.conf')
  const i = await cli('hook', 'install', '--path', theirs, '--vzdump-conf', conf, '--force')
  t.equal(i.status, 3)
  t.match(i.stderr, /their-hook exists and was not written by vma-opt/)
  const u = await cli('hook', 'uninstall', '--path', theirs, '--vzdump-conf', conf)
  t.equal(u.status, 3)
  t.equal(readFileSync(theirs, 'utf8'), '#!/bin/sh\nexit 0\n')
  t.equal(readFileSync(conf, 'utf8'), 'script: /x/y\n', 'vzdump.conf untouched too')
  t.notOk(existsSync(`${conf}.vma-opt-backup`))
})

t.test('install twice keeps the first backup and the mode and owner; uninstall restores the user script: line', async t => {
  const original = '# vzdump default settings\nbwlimit: 0\nscript: /usr/local/bin/their-hook\nmailto: root\n'
  const dir = t.testdir({ 'vzdump.conf': original })
  const conf = join(dir, 'vzdump.conf')
  chmodSync(conf, 0o640)
  chownSync(conf, 1234, 5678)
  const a = join(dir, 'a'),
    b = join(dir, 'b')
  const run = (...args: string[]) => cli('hook', ...args)
  t.equal((await run('install', '--path', a, '--vzdump-conf', conf, '--force')).status, 0, 'another hook: --force replaces it')
  t.notMatch(readFileSync(a, 'utf8'), /their-hook/, 'replaced, not chained')
  t.equal(readFileSync(conf, 'utf8'), original.replace('/usr/local/bin/their-hook', a))
  const second = await run('install', '--path', b, '--vzdump-conf', conf, '--force')
  t.equal(second.status, 0, second.stderr)
  t.equal(readFileSync(conf, 'utf8'), original.replace('/usr/local/bin/their-hook', b))
  t.equal(readFileSync(`${conf}.vma-opt-backup`, 'utf8'), original, 'the backup is still the user file')
  for (const f of [conf, `${conf}.vma-opt-backup`]) {
    const st = statSync(f)
    t.same([st.mode & 0o7777, st.uid, st.gid], [0o640, 1234, 5678], `${f}: mode and owner kept`)
  }
  t.same(readdirSync(dir).sort(), ['a', 'b', 'vzdump.conf', 'vzdump.conf.vma-opt-backup'], 'no temp file left')
  const u = await run('uninstall', '--path', b, '--vzdump-conf', conf)
  t.equal(u.status, 0, u.stderr)
  t.match(u.stdout, `restored script: /usr/local/bin/their-hook`)
  t.equal(readFileSync(conf, 'utf8'), original)
  t.same([statSync(conf).mode & 0o7777, statSync(conf).uid, statSync(conf).gid], [0o640, 1234, 5678])
  t.notOk(existsSync(b), 'our wrapper is gone')
  t.notOk(existsSync(`${conf}.vma-opt-backup`), 'the backup is gone once restored')
  t.ok(existsSync(a), 'a wrapper vzdump.conf no longer names is left for its own uninstall')
  t.equal((await run('uninstall', '--path', a)).status, 0)
  t.notOk(existsSync(a))
})

t.test('uninstall without a previous script: line removes ours and nothing else', async t => {
  const original = 'bwlimit: 0\n#script: commented\n'
  const dir = t.testdir({ 'vzdump.conf': original })
  const conf = join(dir, 'vzdump.conf')
  const hook = join(dir, 'hook')
  installHook({ path: hook, vzdumpConf: conf, packaged: false })
  t.equal(readFileSync(conf, 'utf8'), `${original}script: ${hook}\n`)
  const r = uninstallHook({ path: hook, vzdumpConf: conf, packaged: false })
  t.same(r, { removed: [hook], vzdumpConf: conf, restored: null })
  t.equal(readFileSync(conf, 'utf8'), original)
  const other = 'script: /their/hook\n'
  writeFileSync(conf, other)
  t.same(uninstallHook({ path: hook, vzdumpConf: conf, packaged: false }), { removed: [], vzdumpConf: conf, foreign: '/their/hook' })
  t.equal(readFileSync(conf, 'utf8'), other)
})

t.test('packaged mode writes only the options file, which the wrapper reads', async t => {
  const dir = t.testdir({ 'vzdump.conf': 'bwlimit: 0\n' })
  const conf = join(dir, 'vzdump.conf')
  const optionsFile = join(dir, 'etc', 'vma-opt', 'hook.conf')
  const wrapper = join(dir, 'vzdump-vma-opt') // stands for /usr/sbin/vzdump-vma-opt
  const tmpdir = join(dir, `spool  x '`)
  const r = installHook({ packaged: true, packagedWrapper: wrapper, optionsFile, vzdumpConf: conf, keepUuid: true, tmpdir })
  t.same(r, { path: wrapper, wrote: optionsFile, confLine: `script: ${wrapper}`, vzdumpConf: conf, backup: `${conf}.vma-opt-backup` })
  t.notOk(existsSync(wrapper), 'the package ships the wrapper; install does not write it')
  t.same(optionsFileArgs(readFileSync(optionsFile, 'utf8')), ['--keep-uuid', '--tmpdir', tmpdir])
  t.equal(readFileSync(conf, 'utf8'), `bwlimit: 0\nscript: ${wrapper}\n`)
  // The packaged wrapper's form (build-deb.mjs writes it with packagedWrapperSpec), pointed at this options file.
  writeFileSync(wrapper, wrapperScript({ node: process.execPath, entry: ENTRY, args: ['--options-file', optionsFile] }), { mode: 0o755 })
  const { target, uuid, vars } = dump(dir)
  const run = vzdump(wrapper, ['backup-end', 'snapshot', '100'], vars)
  t.equal(run.status, 0, run.out)
  t.ok(readFileSync(target).equals(expectedOptimized({ devices }, uuid)), 'optimized with the uuid kept, as hook.conf says')
  const u = uninstallHook({ packaged: true, packagedWrapper: wrapper, optionsFile, vzdumpConf: conf })
  t.same(u, { removed: [optionsFile], vzdumpConf: conf, restored: null }, 'the options file goes; the package wrapper would stay')
  t.equal(readFileSync(conf, 'utf8'), 'bwlimit: 0\n')
  writeFileSync(optionsFile, '--zstd-threads lots\n')
  const bad = vzdump(wrapper, ['backup-end', 'snapshot', '100'], vars)
  t.equal(bad.status, 2)
  t.match(bad.out, /--zstd-threads takes a whole number from 0 to 256, got "lots"/)
})

t.test('integer options are checked at parse time, before anything is read or written', async t => {
  const dir = t.testdir()
  const hook = join(dir, 'hook')
  for (const v of ['abc', '', '1.5', '-1', '0x10', '257', '1e2']) {
    const r = await cli('hook', 'install', '--path', hook, '--zstd-threads', v)
    t.equal(r.status, 2, `--zstd-threads ${JSON.stringify(v)}`)
    t.match(r.stderr, `--zstd-threads takes a whole number from 0 to 256, got ${JSON.stringify(v)}`)
  }
  t.notOk(existsSync(hook), 'no wrapper written')
  for (const args of [
    ['optimize', join(dir, 'missing.vma'), '--zstd-threads', 'abc'],
    ['pack', join(dir, 'out.vma'), '--disk', `a=${join(dir, 'missing')}`, '--ctime', 'now'],
    ['pack', join(dir, 'out.vma'), '--disk', `a=${join(dir, 'missing')}`, '--zstd-threads', '2', '--zstd-threads', 'x'],
    ['optimize', join(dir, 'missing.vma'), '--zstd-threads'],
  ]) {
    const r = await cli(...args)
    t.equal(r.status, 2, `${args.join(' ')}: a usage error, not the missing file (3)`)
  }
  t.equal((await cli('optimize', join(dir, 'missing.vma'), '--zstd-threads', '4')).status, 3, 'a valid value gets as far as the file')
})

t.test("no command declares a yargs 'number' option (integerOption checks them all)", async t => {
  const dir = join(ROOT, 'src', 'cli')
  for (const f of readdirSync(dir, { recursive: true }) as string[]) {
    if (f.endsWith('.ts')) t.notMatch(readFileSync(join(dir, f), 'utf8'), /type:\s*'number'/, f)
  }
})

/** A hook of the user's that logs each call (phase, arguments, the variables vzdump sets) and exits with $STATUS_<PHASE> if set. */
function theirHook(dir: string): { path: string; log: string } {
  const log = join(dir, 'their.log')
  const path = join(dir, 'their hook')
  writeFileSync(
    path,
    `#!/bin/sh\nprintf '%s|%s|%s|%s|%s\\n' "$*" "$TARGET" "$DUMPDIR" "$PATH" "$(wc -c < "$TARGET" 2>/dev/null)" >> '${log}'\ncase "$1" in job-start) exit \${THEIR_JOB_START:-0} ;; backup-end) exit \${THEIR_BACKUP_END:-0} ;; esac\nexit 0\n`,
    { mode: 0o755 },
  )
  return { path, log }
}

t.test('the hook vzdump ran before keeps running, every phase, same arguments and environment, its status kept', async t => {
  const dir = t.testdir()
  const their = theirHook(dir)
  const conf = join(dir, 'vzdump.conf')
  writeFileSync(conf, `bwlimit: 0\nscript: ${their.path}\n`)
  const hook = join(dir, 'vzdump-vma-opt')
  const i = await cli('hook', 'install', '--path', hook, '--vzdump-conf', conf, '--entry-for-test-only')
  t.equal(i.status, 2, 'unknown options are still refused')
  const r = installHook({ path: hook, vzdumpConf: conf, packaged: false, entry: ENTRY })
  t.equal(r.chain, their.path, 'chained, not refused')
  t.equal(readFileSync(conf, 'utf8'), `bwlimit: 0\nscript: ${hook}\n`)
  const { target, uuid, vars } = dump(dir)
  // What their hook sees when vzdump runs it itself: the baseline for the environment.
  t.equal(vzdump(their.path, ['job-init'], vars).status, 0)
  const direct = readFileSync(their.log, 'utf8').trim().split('|')
  writeFileSync(their.log, '')
  const phases = [['job-init'], ['job-start'], ['backup-start', 'snapshot', '100'], ['backup-end', 'snapshot', '100'], ['log-end', 'snapshot', '100'], ['job-end']]
  for (const p of phases) t.equal(vzdump(hook, p, vars).status, 0, p.join(' '))
  const lines = readFileSync(their.log, 'utf8')
    .trim()
    .split('\n')
    .map(l => l.split('|'))
  t.same(
    lines.map(l => l[0]),
    phases.map(p => p.join(' ')),
    'their hook saw every phase with its arguments',
  )
  t.ok(
    lines.every(l => l[1] === target && l[2] === vars.DUMPDIR && l[3] === direct[3]),
    `with vzdump's environment: TARGET, DUMPDIR, and the PATH it sees alone (${direct[3]}; ours is set for node alone)`,
  )
  const optimized = expectedOptimized({ devices }, undefined)
  t.equal(Number(lines[3]![4]), optimized.length, 'at backup-end their hook ran after ours: it saw the optimized archive')
  t.ok(readFileSync(target).equals(optimized) || uuid.length > 0, 'the archive is optimized')
  // Their failure fails the phase as it did without vma-opt.
  const failing = vzdump(hook, ['job-start'], { ...vars, THEIR_JOB_START: '5' })
  t.equal(failing.status, 5, 'job-start: their status')
  const end = vzdump(hook, ['backup-end', 'snapshot', '100'], { ...vars, THEIR_BACKUP_END: '7' })
  t.equal(end.status, 7, 'backup-end: their failure wins over our success')
  // A reinstall (new options) keeps the chain; uninstall gives them the slot back.
  const again = installHook({ path: hook, vzdumpConf: conf, packaged: false, entry: ENTRY, trim: true })
  t.equal(again.chain, their.path, 'a reinstall keeps the chained hook')
  const u = uninstallHook({ path: hook, vzdumpConf: conf, packaged: false })
  t.equal(u.restored, `script: ${their.path}`)
  t.equal(readFileSync(conf, 'utf8'), `bwlimit: 0\nscript: ${their.path}\n`)
})

t.test('packaged: the package wrapper chains through hook.conf; a job gets a wrapper of its own with its own options', async t => {
  const dir = t.testdir()
  const their = theirHook(dir)
  const conf = join(dir, 'vzdump.conf')
  writeFileSync(conf, `script: ${their.path}\n`)
  const optionsFile = join(dir, 'etc', 'vma-opt', 'hook.conf')
  const wrapper = join(dir, 'vzdump-vma-opt')
  const r = installHook({ packaged: true, packagedWrapper: wrapper, optionsFile, vzdumpConf: conf })
  t.equal(r.chain, their.path)
  t.same(optionsFileArgs(readFileSync(optionsFile, 'utf8')), ['--chain', their.path])
  // The package's wrapper, as build-deb writes it, pointed at this options file.
  writeFileSync(wrapper, wrapperScript({ node: process.execPath, entry: ENTRY, args: ['--options-file', optionsFile], chainFrom: optionsFile }), { mode: 0o755 })
  const { target, vars } = dump(dir)
  t.equal(vzdump(wrapper, ['job-start'], { ...vars, THEIR_JOB_START: '4' }).status, 4, 'their hook ran (and failed) through the options file')
  const end = vzdump(wrapper, ['backup-end', 'snapshot', '100'], vars)
  t.equal(end.status, 0, end.out)
  t.ok(readFileSync(target).equals(expectedOptimized({ devices })), 'ours ran too')
  // A job's own wrapper (vzdump --script), with its own options; the global options are not touched.
  const before = readFileSync(optionsFile, 'utf8')
  const job = join(dir, 'job-nightly')
  const j = installHook({ packaged: true, packagedWrapper: wrapper, optionsFile, path: job, keepUuid: true, entry: ENTRY })
  t.equal(j.wrote, job, 'a wrapper of its own')
  t.equal(readFileSync(optionsFile, 'utf8'), before, 'the global options file is untouched')
  const { target: t2, uuid, vars: v2 } = dump(join(dir, 'job'))
  const jr = vzdump(job, ['backup-end', 'snapshot', '100'], v2)
  t.equal(jr.status, 0, jr.out + jr.err)
  t.ok(readFileSync(t2).equals(expectedOptimized({ devices }, uuid)), "the job wrapper's own option (--keep-uuid) applied")
  const u = uninstallHook({ packaged: true, packagedWrapper: wrapper, optionsFile, path: job })
  t.same(u.removed, [job], 'uninstalling the job wrapper removes it and nothing global')
  t.ok(existsSync(optionsFile))
  // hook.conf edited by hand: CRLF, blanks around the line, no newline at the end (review): the chain still runs.
  writeFileSync(optionsFile, `# edited\r\n   --chain ${their.path}  \r\n--keep-uuid`)
  t.equal(vzdump(wrapper, ['job-start'], { ...vars, THEIR_JOB_START: '6' }).status, 6, 'the chained hook ran from a CRLF, blank-padded last line')
  t.same(optionsFileArgs(readFileSync(optionsFile, 'utf8')), ['--chain', their.path, '--keep-uuid'], 'and node reads the same')
  // A checkout wrapper (or a job's) replacing the package's keeps the chain the package's wrapper had in hook.conf (review).
  const other = join(dir, 'checkout-hook')
  const c = installHook({ packaged: false, packagedWrapper: wrapper, optionsFile, path: other, vzdumpConf: conf, entry: ENTRY })
  t.equal(c.chain, their.path, 'the chain moves to the new wrapper')
})

/** Files under /etc changed since `since` (ms) whose path names vma-opt or vzdump, and the system wrappers if they exist now. */
function systemWrites(since: number): string[] {
  const found = spawnSync('find', ['/etc', '-xdev', '-newermt', `@${since / 1000}`, '(', '-path', '*vma-opt*', '-o', '-path', '*vzdump*', ')'], { encoding: 'utf8' }).stdout.split('\n')
  return [...found.filter(Boolean), ...[CHECKOUT_WRAPPER, PACKAGED_WRAPPER, PACKAGED_OPTIONS].filter(p => existsSync(p) && statSync(p).mtimeMs >= since)]
}

t.test('--vzdump-conf other than /etc/vzdump.conf: the wrapper goes beside it and nothing under /etc is written, packaged or not (issue 25)', async t => {
  for (const packaged of [true, false]) {
    const dir = t.testdir({ 'vzdump.conf': 'bwlimit: 0\n' })
    const conf = join(dir, 'vzdump.conf')
    const before = { etc: existsSync('/etc/vma-opt') ? readdirSync('/etc/vma-opt') : [], vzdumpConf: existsSync('/etc/vzdump.conf') ? readFileSync('/etc/vzdump.conf', 'utf8') : undefined }
    const since = Date.now() - 1000
    // Should the code regress, what it wrote to the system goes again (only what did not exist before).
    const absent = [PACKAGED_OPTIONS, CHECKOUT_WRAPPER].filter(p => !existsSync(p))
    const etcAbsent = !existsSync('/etc/vma-opt')
    t.teardown(() => {
      for (const p of absent) rmSync(p, { force: true })
      if (etcAbsent) rmSync('/etc/vma-opt', { recursive: true, force: true })
    })
    // The real defaults (no optionsFile, no packagedWrapper): what `vma-opt hook install --vzdump-conf SCRATCH` does.
    const r = installHook({ packaged, vzdumpConf: conf, keepUuid: true, entry: ENTRY, node: process.execPath })
    const wrapper = join(dir, 'vzdump-vma-opt')
    t.same(r, { path: wrapper, wrote: wrapper, confLine: `script: ${wrapper}`, vzdumpConf: conf, backup: `${conf}.vma-opt-backup` }, `packaged ${packaged}: a wrapper of its own beside the conf`)
    t.same(readdirSync(dir).sort(), ['vzdump-vma-opt', 'vzdump.conf', 'vzdump.conf.vma-opt-backup'], 'only beside the given file')
    t.same(systemWrites(since), [], 'nothing under /etc, no system wrapper')
    t.same(existsSync('/etc/vma-opt') ? readdirSync('/etc/vma-opt') : [], before.etc)
    t.equal(existsSync('/etc/vzdump.conf') ? readFileSync('/etc/vzdump.conf', 'utf8') : undefined, before.vzdumpConf)
    t.notMatch(readFileSync(wrapper, 'utf8'), /--options-file/, 'the wrapper does not read the global hook.conf')
    // It is the hook vzdump runs, with its options baked in.
    const { target, uuid, vars } = dump(dir)
    const run = vzdump(wrapper, ['backup-end', 'snapshot', '100'], vars)
    t.equal(run.status, 0, run.out + run.err)
    t.ok(readFileSync(target).equals(expectedOptimized({ devices }, uuid)), '--keep-uuid applied from the wrapper')
    // Uninstall with the same arguments finds the same wrapper.
    const u = uninstallHook({ packaged, vzdumpConf: conf })
    t.same(u, { removed: [wrapper], vzdumpConf: conf, restored: null })
    t.equal(readFileSync(conf, 'utf8'), 'bwlimit: 0\n')
    t.same(systemWrites(since), [], 'still nothing under /etc')
  }
})

t.test('a vzdump.conf that is a symlink stays one: the file it points to gets the script: line', async t => {
  const original = 'bwlimit: 0\n'
  const dir = t.testdir({ real: { 'vzdump.conf': original } })
  const target = join(dir, 'real', 'vzdump.conf')
  const link = join(dir, 'vzdump.conf')
  symlinkSync(target, link)
  const hook = join(dir, 'hook')
  installHook({ path: hook, vzdumpConf: link, packaged: false })
  t.ok(lstatSync(link).isSymbolicLink(), 'the link is still a link (vzdump reads through it)')
  t.equal(readFileSync(target, 'utf8'), `${original}script: ${hook}\n`, 'the file it points to names the hook')
  uninstallHook({ path: hook, vzdumpConf: link, packaged: false })
  t.ok(lstatSync(link).isSymbolicLink(), 'uninstall keeps the link too')
  t.equal(readFileSync(target, 'utf8'), original, 'and restores the file it points to')
})
