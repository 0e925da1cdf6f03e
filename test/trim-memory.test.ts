// Memory: planning a sparse 1 TiB ext4 (4 KiB blocks) must stay far below
// 150 MB RSS. The allocation map is 1 bit per block (32 MiB per TiB). The RSS
// is sampled while planning; the growth over the RSS before planning is what
// the plan costs (tap's TypeScript loader makes the absolute RSS meaningless).
import t from 'tap'
import { join } from 'node:path'
import { closeSync, openSync, ftruncateSync } from 'node:fs'
import { planTrim } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { haveTool, run, skipHere } from './trim-helpers.js'

const TiB = 2 ** 40
if (!haveTool('mke2fs')) t.plan(0, 'mke2fs missing (Debian package e2fsprogs)')
else {
  t.test('1 TiB sparse ext4', async t => {
    const img = join(t.testdir(), 'big.img')
    const fd = openSync(img, 'w')
    ftruncateSync(fd, TiB)
    closeSync(fd)
    const mk = run('mke2fs', ['-q', '-F', '-t', 'ext4', '-E', 'nodiscard,lazy_itable_init=1,lazy_journal_init=1', img])
    if (mk.status !== 0) {
      skipHere(t, `mke2fs on a sparse 1 TiB file failed here: ${mk.out}`)
      return
    }
    const disk = await openFileDisk(img, 'd')
    globalThis.gc?.()
    const before = process.memoryUsage().rss
    let peak = before
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2)
    const started = Date.now()
    const plan = await planTrim([disk], { journal: 'strict', lvmFree: false })
    let ranges = 0
    for (const _ of plan.freeRanges('d')) ranges++
    clearInterval(sampler)
    peak = Math.max(peak, process.memoryUsage().rss)
    const v = plan.report.disks[0]!.volumes[0]!
    t.equal(v.decision, 'trim', 'the empty 1 TiB ext4 is trimmed')
    t.ok(v.freeBytes > 0.98 * TiB, `${v.freeBytes} bytes declared free in ${ranges} ranges`)
    const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`
    // plain node starts at ~50 MB, so the plan must stay under ~100 MB
    t.ok(peak - before < 100e6, `planning 1 TiB grew the RSS by ${mb(peak - before)} (${Date.now() - started} ms)`)
    await disk.close()
  })
}
