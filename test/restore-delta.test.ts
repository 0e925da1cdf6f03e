// ls/get through a reverse delta: the day-1 backup exists only as a delta
// against day 2 (what the hook leaves in a dump directory); get finds the
// chain there as rebuild does and reads day 1's bytes, not day 2's.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, cliEnv } from './helpers.js'
import { needTools } from './tools.js'
import { run, smallExt4 } from './restore-build.js'

const cli = (args: string[]) => spawnSync(BIN, args, { env: cliEnv(), maxBuffer: 16 << 20 })

const skip = needTools('mkfs.ext4', 'debugfs')
if (skip) t.plan(0, skip)
else {
  const dir = t.testdir()
  const img = smallExt4(dir, 'fs.img', { 'etc/hostname': 'day one\n' })
  const dump = join(dir, 'dump')
  mkdirSync(dump)
  const day1 = join(dump, 'vzdump-qemu-100-2026_12_01-00_00_00.vma')
  const day2 = join(dump, 'vzdump-qemu-100-2026_12_02-00_00_00.vma')
  run(BIN, ['pack', '-q', day1, '--disk', `drive-scsi0=${img}`, '--ctime', '1764547200'])
  const img2 = join(dir, 'fs2.img')
  copyFileSync(img, img2)
  writeFileSync(join(dir, 'new'), 'day two, changed\n')
  run('debugfs', ['-w', '-R', `rm /etc/hostname`, img2])
  run('debugfs', ['-w', '-R', `write ${join(dir, 'new')} /etc/hostname`, img2])
  run(BIN, ['pack', '-q', day2, '--disk', `drive-scsi0=${img2}`, '--ctime', '1764633600'])
  const delta = join(dump, 'vzdump-qemu-100-2026_12_01-00_00_00.vma-delta')
  run(BIN, ['diff', '-q', day2, day1, delta])
  rmSync(day1)

  t.test('get through the chain reads the older day', async t => {
    const r = cli(['get', delta, 'scsi0:/etc/hostname', '-'])
    t.equal(r.status, 0, r.stderr.toString())
    t.equal(r.stdout.toString(), 'day one\n')
    t.match(r.stderr.toString(), /a reverse delta, read through .*2026_12_02-00_00_00\.vma and 1 delta/)
    t.equal(cli(['get', day2, 'scsi0:/etc/hostname', '-']).stdout.toString(), 'day two, changed\n')
    const l = cli(['ls', '-l', delta, 'scsi0:/etc'])
    t.match(l.stdout.toString(), /^-rw-r--r-- +1 +0 +0 +8 .* hostname\n$/)
  })

  t.test('a delta under another name is refused with what to do', async t => {
    const odd = join(dir, 'renamed.vma-delta')
    copyFileSync(delta, odd)
    const r = cli(['ls', odd])
    t.equal(r.status, 1)
    t.match(r.stderr.toString(), /is a delta: give it under its vzdump name/)
  })
}
