// Memory: planning a sparse 1 TiB XFS (4 KiB blocks) must stay far below
// 150 MB RSS, as for ext4: the map is 1 bit per block (32 MiB per TiB), the
// AGs are read one at a time with one block per B+tree level, the log through
// a window of at most 4 MiB.
import t from 'tap'
import { haveTool } from './trim-helpers.js'
import { TiB, mb, planSparse } from './trim-memory-probe.js'

if (!haveTool('mkfs.xfs')) t.plan(0, 'mkfs.xfs missing (Debian package xfsprogs)')
else {
  t.test('1 TiB sparse XFS', async t => {
    const r = await planSparse(t, TiB, ['mkfs.xfs', '-q', '-f', '-K'])
    if (!r) return
    t.equal(r.v.decision, 'trim', `the empty 1 TiB XFS is trimmed (${r.v.reason ?? ''})`)
    t.ok(r.v.freeBytes > 0.98 * TiB, `${r.v.freeBytes} bytes declared free in ${r.ranges} ranges`)
    // plain node starts at ~50 MB, so the plan must stay under ~100 MB
    t.ok(r.grew < 100e6, `planning 1 TiB grew the RSS by ${mb(r.grew)}`)
  })
}
