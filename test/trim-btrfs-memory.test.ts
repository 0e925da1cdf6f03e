// Memory and the far superblock copy: planning a sparse 1 TiB btrfs must
// stay far below 150 MB RSS (the allocation map is 1 bit per 4 KiB sector,
// 32 MiB per TiB; trees are streamed a block per level). Its free ranges
// equal dump-tree's and leave out the superblock copy at 256 GiB. The RSS is
// sampled while planning; the growth over the RSS before is what the plan
// costs (tap's TypeScript loader makes the absolute RSS meaningless).
import t from 'tap'
import { btrfsMissing } from './fixtures/btrfs-image.js'
import { TiB, mb, planSparse } from './trim-memory-probe.js'
import { expectedFree } from './fixtures/btrfs-dump.js'

const missing = btrfsMissing()
if (missing) t.plan(0, missing)
else {
  t.test('1 TiB sparse btrfs', async t => {
    const r = await planSparse(t, TiB, ['mkfs.btrfs', '-q', '-f', '-K'], true)
    if (!r) return
    const { img, v, list: ranges } = r
    t.equal(v.decision, 'trim', `the empty 1 TiB btrfs is trimmed (${v.reason ?? ''})`)
    t.ok(v.freeBytes > 0.99 * TiB, `${v.freeBytes} bytes declared free in ${ranges.length} ranges`)
    t.ok(r.grew < 100e6, `planning 1 TiB grew the RSS by ${mb(r.grew)}`)
    t.same(ranges, expectedFree(img), 'the free ranges are those dump-tree gives')
    const copy = 256 * 2 ** 30
    t.notOk(
      ranges.some(([o, n]) => o < copy + 65536 && copy < o + n),
      'the superblock copy at 256 GiB is not declared free',
    )
    t.ok(ranges.some(([o, n]) => o + n === copy) && ranges.some(([o]) => o === copy + 65536), 'free space ends right before it and resumes right after')
  })
}
