// Memory and the far superblock copy: planning a sparse 1 TiB btrfs must
// stay far below 150 MB RSS (the allocation map is 1 bit per 4 KiB sector,
// 32 MiB per TiB; trees are streamed a block per level). Its free ranges
// equal dump-tree's and leave out the superblock copy at 256 GiB. The RSS is
// sampled while planning; the growth over the RSS before is what the plan
// costs (tap's TypeScript loader makes the absolute RSS meaningless).
import t from 'tap'
import { join } from 'node:path'
import { closeSync, openSync, ftruncateSync } from 'node:fs'
import { planTrim } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { btrfsMissing, sh } from './fixtures/btrfs-image.js'
import { expectedFree } from './fixtures/btrfs-dump.js'

const TiB = 2 ** 40
const missing = btrfsMissing()
if (missing) t.plan(0, missing)
else {
  t.test('1 TiB sparse btrfs', async t => {
    const img = join(t.testdir(), 'big.img')
    const fd = openSync(img, 'w')
    ftruncateSync(fd, TiB)
    closeSync(fd)
    sh('mkfs.btrfs', ['-q', '-f', '-K', img])
    const disk = await openFileDisk(img, 'd')
    globalThis.gc?.()
    const before = process.memoryUsage().rss
    let peak = before
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2)
    const plan = await planTrim([disk], { journal: 'strict', lvmFree: false })
    const ranges = [...plan.freeRanges('d')]
    clearInterval(sampler)
    peak = Math.max(peak, process.memoryUsage().rss)
    await disk.close()
    const v = plan.report.disks[0]!.volumes[0]!
    t.equal(v.decision, 'trim', `the empty 1 TiB btrfs is trimmed (${v.reason ?? ''})`)
    t.ok(v.freeBytes > 0.99 * TiB, `${v.freeBytes} bytes declared free in ${ranges.length} ranges`)
    t.ok(peak - before < 100e6, `planning 1 TiB grew the RSS by ${((peak - before) / 1e6).toFixed(1)} MB`)
    t.same(ranges, expectedFree(img), 'the free ranges are those dump-tree gives')
    const copy = 256 * 2 ** 30
    t.notOk(
      ranges.some(([o, n]) => o < copy + 65536 && copy < o + n),
      'the superblock copy at 256 GiB is not declared free',
    )
    t.ok(ranges.some(([o, n]) => o + n === copy) && ranges.some(([o]) => o === copy + 65536), 'free space ends right before it and resumes right after')
  })
}
