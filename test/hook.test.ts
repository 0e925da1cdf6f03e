// The vzdump hook, run exactly as vzdump runs it: `env -i` with vzdump's
// variables only (no PATH, no HOME), the phase arguments, a dump directory
// with a properly named archive and its side files.

import t from 'tap'
import { skipHere } from './tools.js'
import type { Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { expectedOptimized, makeContent, makeVma } from './fixtures/make-vma.js'
import { BIN, cliEnv } from './helpers.js'
import { detectCompression } from '../src/input/detect.js'

const devices = [
  { name: 'drive-efidisk0', size: 540672, data: makeContent(540672, 1) },
  { name: 'drive-scsi0', size: 3 << 20, data: makeContent(3 << 20, 2) },
]
const BASE = 'vzdump-qemu-100-2026_11_21-22_46_19'
const optimized = expectedOptimized({ devices })

function install(t: Test, dir: string, extra: string[] = []): string {
  const hook = join(dir, 'vma-opt-hook')
  const r = spawnSync(BIN, ['hook', 'install', '--path', hook, ...extra], { env: cliEnv() })
  t.equal(r.status, 0, `hook install ${r.stderr}`)
  return hook
}

/** Runs the hook the way vzdump does. */
function vzdump(hook: string, phase: string[], vars: Record<string, string>) {
  const env = ['env', '-i', ...Object.entries({ LC_ALL: 'C', LVM_SUPPRESS_FD_WARNINGS: '1', ...vars }).map(([k, v]) => `${k}=${v}`)]
  const r = spawnSync('/usr/bin/env', [...env.slice(1), hook, ...phase], { encoding: 'utf8' })
  return { status: r.status, log: r.stdout + r.stderr }
}

function dumpDir(t: Test, ext: string, archive = makeVma({ devices, order: 'interleaved' }).buf) {
  const dir = t.testdir({ dump: {} })
  const dump = join(dir, 'dump')
  const plain = join(dump, `${BASE}.vma`)
  writeFileSync(plain, archive)
  const tool = { '': '', '.zst': 'zstd', '.gz': 'gzip', '.lzo': 'lzop' }[ext]!
  if (tool) spawnSync(tool, tool === 'lzop' ? ['-U', '-q', plain] : tool === 'gzip' ? ['-q', plain] : ['-q', '--rm', plain])
  const target = join(dump, `${BASE}.vma${ext}`)
  writeFileSync(`${target}.notes`, 'nightly\n')
  writeFileSync(join(dump, `${BASE}.log`), 'INFO: starting new backup job\n')
  writeFileSync(`${target}.protected`, '')
  const vars = { STOREID: 'local', DUMPDIR: dump, VMTYPE: 'qemu', HOSTNAME: 'web1', TARGET: target, LOGFILE: join(dump, `${BASE}.log`) }
  return { dir, dump, target, vars }
}

const decompress = (path: string) => {
  const cmd = path.endsWith('.zst') ? ['zstd', '-dcq'] : path.endsWith('.gz') ? ['gzip', '-dc'] : path.endsWith('.lzo') ? ['lzop', '-dcq'] : ['cat']
  return spawnSync(cmd[0]!, [...cmd.slice(1), path], { maxBuffer: 64 << 20 }).stdout
}

for (const ext of ['', '.zst', '.gz', '.lzo']) {
  t.test(`backup-end optimizes ${BASE}.vma${ext} in place`, async t => {
    const { dir, dump, target, vars } = dumpDir(t, ext)
    const hook = install(t, dir, ['--zstd-threads', '2'])
    const side = Object.fromEntries(
      readdirSync(dump)
        .filter(f => f !== `${BASE}.vma${ext}`)
        .map(f => [f, readFileSync(join(dump, f))]),
    )
    const compression = detectCompression(readFileSync(target))
    const r = vzdump(hook, ['backup-end', 'snapshot', '100'], vars)
    t.equal(r.status, 0, r.log)
    t.match(r.log, new RegExp(`^vma-opt: optimizing ${BASE}\\.vma${ext.replace('.', '\\.')} \\(.*\\)\\nvma-opt: .* optimized in .* s: .* -> .*, 2 devices proven unchanged\\n$`))
    t.ok(decompress(target).equals(optimized), 'the archive is now the optimized form')
    t.equal(detectCompression(readFileSync(target)), compression, 'same compression')
    t.same(readdirSync(dump).sort(), [`${BASE}.vma${ext}`, ...Object.keys(side)].sort(), 'nothing else in the directory')
    for (const [f, b] of Object.entries(side)) t.ok(readFileSync(join(dump, f)).equals(b), `${f} unchanged`)
    const st = statSync(target)
    const again = vzdump(hook, ['backup-end', 'snapshot', '100'], vars)
    t.equal(again.status, 0)
    t.match(again.log, /is already optimized, left unchanged/)
    t.equal(statSync(target).mtimeMs, st.mtimeMs, 'second run is a no-op')
  })
}

t.test('every other phase, guest type and target is a no-op', async t => {
  const { dir, target, vars } = dumpDir(t, '.zst')
  const hook = install(t, dir)
  const before = readFileSync(target)
  const calls: [string[], Record<string, string>][] = [
    [['job-init'], { STOREID: 'local' }],
    [['job-start'], { STOREID: 'local', DUMPDIR: vars.DUMPDIR }],
    [['backup-start', 'snapshot', '100'], vars],
    [['pre-stop', 'snapshot', '100'], vars],
    [['pre-restart', 'snapshot', '100'], vars],
    [['post-restart', 'snapshot', '100'], vars],
    [['backup-abort', 'snapshot', '100'], vars],
    [['log-end', 'snapshot', '100'], vars],
    [['job-end'], { STOREID: 'local' }],
    [['backup-end', 'snapshot', '101'], { ...vars, VMTYPE: 'lxc' }],
    [['backup-end', 'stop', '100'], { ...vars, TARGET: '-' }],
    [['backup-end', 'snapshot', '100'], { VMTYPE: 'qemu', STOREID: 'pbs', TARGET: 'vm/100/2026-11-21T22:46:19Z' }],
    [['backup-end', 'snapshot', '100'], { ...vars, TARGET: join(vars.DUMPDIR, 'notes.txt') }],
  ]
  for (const [args, env] of calls) {
    const r = vzdump(hook, args, env)
    t.equal(r.status, 0, `${args.join(' ')} ${env.VMTYPE ?? ''} ${env.TARGET ?? ''}`)
    t.equal(r.log, '', 'prints nothing')
  }
  t.ok(readFileSync(target).equals(before), 'archive untouched')
})

t.test('a damaged archive fails the backup with the reason in the log and stays as it was', async t => {
  const v = makeVma({ devices, order: 'interleaved' })
  const bad = Buffer.from(v.buf.subarray(0, v.buf.length - 8192))
  const { dir, target, vars } = dumpDir(t, '', bad)
  const hook = install(t, dir)
  const r = vzdump(hook, ['backup-end', 'snapshot', '100'], vars)
  t.equal(r.status, 1)
  t.match(r.log, /vma-opt: ERROR: .* is damaged: extent at offset \d+: truncated.*\(VMA_EXTENT_TRUNCATED\); the archive was left as it is/)
  t.ok(readFileSync(target).equals(bad))
})

t.test('a read-only dump directory: a warning, exit 0 (or failure with --strict)', async t => {
  const { dir, dump, target, vars } = dumpDir(t, '.zst')
  const hook = install(t, dir)
  const strictHook = join(dir, 'strict-hook')
  t.equal(spawnSync(BIN, ['hook', 'install', '--strict', '--path', strictHook], { env: cliEnv() }).status, 0)
  const ro = join(dir, 'ro')
  mkdirSync(ro)
  const m = spawnSync('mount', ['--bind', dump, ro])
  if (m.status !== 0) {
    skipHere(t, `cannot bind-mount here: ${m.stderr}`)
    return
  }
  try {
    spawnSync('mount', ['-o', 'remount,ro,bind', ro])
    const roTarget = join(ro, `${BASE}.vma.zst`)
    const before = readFileSync(roTarget)
    const r = vzdump(hook, ['backup-end', 'snapshot', '100'], { ...vars, DUMPDIR: ro, TARGET: roTarget })
    t.equal(r.status, 0, 'the backup is not failed for it')
    t.match(r.log, /vma-opt: WARNING: could not optimize .*read-only file system \(VMA_IO\); the archive was left as it is/)
    t.ok(readFileSync(roTarget).equals(before))
    const s = vzdump(strictHook, ['backup-end', 'snapshot', '100'], { ...vars, DUMPDIR: ro, TARGET: roTarget })
    t.equal(s.status, 3, '--strict fails it')
  } finally {
    spawnSync('umount', [ro])
  }
  t.ok(readFileSync(target).length > 0)
})

t.test('hook install sets vzdump.conf and keeps a backup', async t => {
  const dir = t.testdir({ 'vzdump.conf': '# vzdump default settings\n#tmpdir: DIR\nbwlimit: 0\n' })
  const conf = join(dir, 'vzdump.conf')
  const hook = join(dir, 'hook')
  const r = spawnSync(BIN, ['hook', 'install', '--path', hook, '--vzdump-conf', conf, '--keep-uuid'], { env: cliEnv(), encoding: 'utf8' })
  t.equal(r.status, 0)
  t.equal(readFileSync(conf, 'utf8'), `# vzdump default settings\n#tmpdir: DIR\nbwlimit: 0\nscript: ${hook}\n`)
  t.equal(readFileSync(`${conf}.vma-opt-backup`, 'utf8'), '# vzdump default settings\n#tmpdir: DIR\nbwlimit: 0\n')
  t.match(readFileSync(hook, 'utf8'), /^#!\/bin\/sh\n[\s\S]*\nnode='\/[^']*node[^']*'\nentry='[^']*hook-main\.js'\n[\s\S]*exec "\$node" "\$entry" '--keep-uuid' "\$@"\n$/)
  t.equal(statSync(hook).mode & 0o777, 0o755)
  writeFileSync(conf, 'script: /usr/local/bin/other-hook\n')
  // Another hook in the one script: slot keeps running, behind ours (issue 25); --force replaces it.
  const chained = spawnSync(BIN, ['hook', 'install', '--path', hook, '--vzdump-conf', conf], { env: cliEnv(), encoding: 'utf8' })
  t.equal(chained.status, 0, chained.stderr)
  t.match(chained.stdout, /also runs the hook vzdump ran before, \/usr\/local\/bin\/other-hook, at every phase/)
  const forced = spawnSync(BIN, ['hook', 'install', '--path', hook, '--vzdump-conf', conf, '--force'], { env: cliEnv() })
  t.equal(forced.status, 0)
  t.equal(readFileSync(conf, 'utf8'), `script: ${hook}\n`)
  const plain = spawnSync(BIN, ['hook', 'install', '--path', join(dir, 'h2')], { env: cliEnv(), encoding: 'utf8' })
  t.match(plain.stdout, new RegExp(`add this line to /etc/vzdump.conf.*\\nscript: ${join(dir, 'h2')}\\n`))
})
