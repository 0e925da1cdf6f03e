// Memory: planning a sparse 1 TiB ext4 (4 KiB blocks) must stay far below
// 150 MB RSS. The allocation map is 1 bit per block (32 MiB per TiB); the
// child process prints its peak RSS, which the report records.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { closeSync, openSync, ftruncateSync } from 'node:fs'
import { haveTool, run, ROOT } from './trim-helpers.js'

const TiB = 2 ** 40
if (!haveTool('mke2fs')) t.skip('mke2fs missing (Debian package e2fsprogs)')
else {
  t.test('1 TiB sparse ext4', async t => {
    const img = join(t.testdir(), 'big.img')
    const fd = openSync(img, 'w')
    ftruncateSync(fd, TiB)
    closeSync(fd)
    const mk = run('mke2fs', ['-q', '-F', '-t', 'ext4', '-E', 'nodiscard,lazy_itable_init=1,lazy_journal_init=1', img])
    if (mk.status !== 0) {
      t.skip(`mke2fs on a sparse 1 TiB file failed here: ${mk.out}`)
      return
    }
    const child = spawnSync(process.execPath, [...process.execArgv, join(ROOT, 'test', 'trim-memory-child.ts'), img], { encoding: 'utf8', cwd: ROOT })
    t.equal(child.status, 0, `child ran ${child.stderr.slice(0, 500)}`)
    const r = JSON.parse(child.stdout.trim().split('\n').pop()!) as { ms: number; rssBefore: number; rssPeak: number; decision: string; freeBytes: number }
    t.equal(r.decision, 'trim', 'the empty 1 TiB ext4 is trimmed')
    t.ok(r.freeBytes > 0.98 * TiB, `${r.freeBytes} bytes declared free`)
    const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`
    // The child runs under tap's TypeScript loader, whose compiler alone takes ~250 MB; plain node
    // starts at ~50 MB. What the plan adds on top must leave the 150 MB budget intact.
    const added = r.rssPeak - r.rssBefore
    t.ok(added < 100e6, `planning 1 TiB adds ${mb(added)} to the RSS (peak ${mb(r.rssPeak)}, before ${mb(r.rssBefore)}, ${r.ms} ms)`)
  })
}
