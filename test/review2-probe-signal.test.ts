// hook --share-blocks probes the dump directory by sharing one block between
// two hidden files it makes there. vzdump stops a hook with SIGTERM when its
// job is aborted: the probe's files must go as every other temp file does,
// not stay in the dump directory for good (no sweep knows their names). The
// xfs_io the hook finds first on PATH runs the real one only after the test
// has sent SIGTERM, so that the signal arrives while the probe's files exist.

import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './helpers.js'
import { findTool } from '../src/util/find-tool.js'
import { loopFs, whyNoLoopFs } from './share-helpers.js'

const ENTRY = join(ROOT, 'dist', 'src', 'hook', 'hook-main.js')
const FIXTURE = join(ROOT, '..', 'shared', 'fixtures', 'two-disks.vma')

t.test(
  'SIGTERM while hook --share-blocks probes the dump directory: no probe file is left, the backup is as vzdump wrote it',
  { skip: whyNoLoopFs('xfs') || (!existsSync(FIXTURE) && `${FIXTURE} is missing`) },
  async t => {
    const dir = t.testdir()
    const mnt = loopFs(t, 'xfs', 300)
    const dump = join(mnt, 'dump')
    mkdirSync(dump)
    const target = join(dump, 'vzdump-qemu-100-2026_11_20-01_00_00.vma')
    copyFileSync(FIXTURE, target)
    const before = readFileSync(target)
    // xfs_io that says it started, waits for the test's go (a FIFO), then is the real one.
    const bin = join(dir, 'bin')
    mkdirSync(bin)
    const started = join(dir, 'started')
    const go = join(dir, 'go')
    t.equal(spawnSync('mkfifo', [go]).status, 0, 'mkfifo')
    writeFileSync(join(bin, 'xfs_io'), `#!/bin/sh\necho $$ > ${started}\nread x < ${go}\nexec ${findTool('xfs_io')} "$@"\n`)
    chmodSync(join(bin, 'xfs_io'), 0o755)
    const hook = spawn(process.execPath, [ENTRY, '--share-blocks', 'backup-end', 'snapshot', '100'], {
      env: { LC_ALL: 'C', PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`, VMTYPE: 'qemu', TARGET: target, DUMPDIR: dump, STOREID: 'local' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let log = ''
    hook.stdout.on('data', d => (log += d))
    hook.stderr.on('data', d => (log += d))
    const exited = new Promise<number | null>(resolve => hook.on('close', (code, sig) => resolve(code ?? (sig ? 128 : null))))
    t.teardown(() => {
      hook.kill('SIGKILL')
      // The wrapper, if it still runs (and only it: its PID may be another process's by now).
      const pid = existsSync(started) ? readFileSync(started, 'utf8').trim() : ''
      const cmdline = pid && existsSync(`/proc/${pid}/cmdline`) ? readFileSync(`/proc/${pid}/cmdline`, 'utf8') : ''
      if (cmdline.includes(join(bin, 'xfs_io'))) process.kill(Number(pid), 'SIGKILL')
    })
    while (!existsSync(started) && hook.exitCode === null) await new Promise(r => setTimeout(r, 20))
    t.ok(existsSync(started), `the probe ran xfs_io: ${log}`)
    t.ok(
      readdirSync(dump).some(f => f.startsWith('.vma-opt-share-probe-')),
      'the probe files exist while it runs',
    )
    hook.kill('SIGTERM')
    const code = await exited
    t.equal(code, 143, `the hook exits 128 + SIGTERM: ${log}`)
    t.same(
      readdirSync(dump).filter(f => f.startsWith('.')),
      [],
      'no probe, temp or lock file is left in the dump directory',
    )
    t.ok(readFileSync(target).equals(before), 'the backup is byte for byte as vzdump wrote it')
  },
)
