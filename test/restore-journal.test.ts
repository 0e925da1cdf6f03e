// A guest copied while its journal held committed transactions (the trim's
// kernel-written fixture ext4-live-journal): ls and get still answer from
// the on-disk structures, and say once, on stderr, that recent changes may
// be missing; stdout stays the listing alone.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, SHARED, cliEnv } from './helpers.js'
import { needTools } from './tools.js'
import { run } from './restore-build.js'

const fixture = join(SHARED, 'trim', 'ext4-live-journal.img.zst')
const skip = needTools('zstd') || (!existsSync(fixture) && `${fixture} not found (the shared fixtures)`)
if (skip) t.plan(0, skip)
else {
  t.test('the journal warning, once, on stderr', async t => {
    const dir = t.testdir()
    const img = join(dir, 'j.img')
    run('zstd', ['-q', '-d', fixture, '-o', img])
    const archive = join(dir, 'j.vma')
    run(BIN, ['pack', '-q', archive, '--disk', `drive-scsi0=${img}`])
    const r = spawnSync(BIN, ['ls', archive, 'scsi0:p1:/'], { env: cliEnv() })
    t.equal(r.status, 0, r.stderr.toString())
    const warnings = r.stderr
      .toString()
      .split('\n')
      .filter(l => /journal needs recovery/.test(l))
    t.equal(warnings.length, 1, r.stderr.toString())
    t.match(warnings[0], /^vma-opt: drive-scsi0:p1: .*changes of the last seconds before the backup may be missing/)
    t.match(r.stdout.toString(), /^etc$/m)
    t.notMatch(r.stdout.toString(), /journal/)
  })
}
