// npm run demo, as a user runs it after npm ci: it exits 0, the plain part
// shows optimize making day 2 share its blocks with day 1, and the --trim
// part (a disk built with mkfs.ext4, sgdisk, mkswap and debugfs) shows the
// archives shrinking, the day's change shrinking with them, and day 1 kept
// as a reverse delta that apply turns back into the same bytes, and ls/get
// taking one file out of the trimmed archive.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { ROOT, cliEnv } from './helpers.js'
import { needTools } from './tools.js'

t.test('npm run demo: optimize, then --trim and a reverse delta on real filesystems', { skip: needTools('mkfs.ext4', 'debugfs', 'sgdisk', 'mkswap') }, async t => {
  const cwd = t.testdir()
  const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'src', 'sample', 'demo.js')], { cwd, env: cliEnv(), encoding: 'utf8', maxBuffer: 64 << 20, timeout: 900_000 })
  t.equal(r.status, 0, `exit 0 ${r.stderr}`)
  const out = r.stdout
  const shared = [...out.matchAll(/day 2 vs day 1: ([\d.]+)% of its 4 KiB blocks/g)].map(m => Number(m[1]))
  t.ok(shared.length === 2 && shared[0]! < 1 && shared[1]! > 99, `optimize: day 2 shares ${shared.join('% -> ')}% of its blocks with day 1`)
  t.notMatch(out, /--trim part left out/, 'the --trim part ran')
  t.match(out, /p1 ext4, p2 swap trimmed, [\d.]+ MiB of data zeroed in their free space/, 'ext4 and swap trimmed, the data zeroed said')
  const sizes = [...out.matchAll(/optimized in place, ([\d.]+) MiB -> ([\d.]+) MiB, 1 device proven equal to the input outside the free space/g)].map(m => [Number(m[1]), Number(m[2])])
  t.equal(sizes.length, 2, 'both days trimmed')
  for (const [before, after] of sizes) t.ok(after! < before! * 0.8, `the archive shrinks: ${before} -> ${after} MiB`)
  const added = [...out.matchAll(/at 4 KiB blocks: +[\d.]+ [KM]iB \(([\d.]+)%\)/g)].map(m => Number(m[1]))
  t.ok(added.length === 2 && added[1]! > 0 && added[1]! < added[0]! / 2, `what a dedup store adds for day 2: ${added.join('% -> ')}% after --trim`)
  const delta = /reverse delta against day 2: ([\d.]+) MiB instead of ([\d.]+) MiB/.exec(out)
  t.ok(delta && Number(delta[1]) < Number(delta[2]) / 5, `day 1 as a delta: ${delta?.[1]} MiB instead of ${delta?.[2]} MiB`)
  t.match(out, /are identical, byte for byte/, 'apply gives day 1 back exactly')
  t.match(out, /\$ vma-opt ls -l \S+ scsi0:p1:\/srv\n(-rw\S+ +\d+ +\d+ +\d+ +\d+ \S+ \S+ file\d+\.bin\n)+/, 'ls -l lists the files of /srv in the trimmed archive')
  t.match(out, /file0\.bin is the file as the guest wrote it, byte for byte/, 'get takes one file out intact')
})
