// Memory: planning a sparse 1 TiB XFS (4 KiB blocks) must stay far below
// 150 MB RSS, as for ext4: the map is 1 bit per block (32 MiB per TiB), the
// AGs are read one at a time with one block per B+tree level, the log through
// a window of at most 4 MiB.
import t from 'tap'
import { join } from 'node:path'
import { closeSync, openSync, ftruncateSync } from 'node:fs'
import { planTrim } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { haveTool, run, skipHere } from './trim-helpers.js'

const TiB = 2 ** 40
if (!haveTool('mkfs.xfs')) t.plan(0, 'mkfs.xfs missing (Debian package xfsprogs)')
else {
  t.test('1 TiB sparse XFS', async t => {
    const img = join(t.testdir(), 'big.img')
    const fd = openSync(img, 'w')
    ftruncateSync(fd, TiB)
    closeSync(fd)
    const mk = run('mkfs.xfs', ['-q', '-f', '-K', img])
    if (mk.status !== 0) {
      skipHere(t, `mkfs.xfs on a sparse 1 TiB file failed here: ${mk.out}`)
      return
    }
    const disk = await openFileDisk(img, 'd')
    globalThis.gc?.()
    const before = process.memoryUsage().rss
    let peak = before
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2)
    const plan = await planTrim([disk], { journal: 'strict', lvmFree: false })
    let ranges = 0
    for (const _ of plan.freeRanges('d')) ranges++
    clearInterval(sampler)
    peak = Math.max(peak, process.memoryUsage().rss)
    const v = plan.report.disks[0]!.volumes[0]!
    t.equal(v.decision, 'trim', `the empty 1 TiB XFS is trimmed (${v.reason ?? ''})`)
    t.ok(v.freeBytes > 0.98 * TiB, `${v.freeBytes} bytes declared free in ${ranges} ranges`)
    const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`
    t.ok(peak - before < 100e6, `planning 1 TiB grew the RSS by ${mb(peak - before)}`)
    await disk.close()
  })
}
