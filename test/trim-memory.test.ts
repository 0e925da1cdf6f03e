// Memory: planning a sparse 1 TiB ext4 (4 KiB blocks) must stay far below
// 150 MB RSS. The allocation map is 1 bit per block (32 MiB per TiB); the
// RSS is sampled while planning (trim-memory-probe.ts).
import t from 'tap'
import { haveTool } from './trim-helpers.js'
import { TiB, mb, planSparse } from './trim-memory-probe.js'

if (!haveTool('mke2fs')) t.plan(0, 'mke2fs missing (Debian package e2fsprogs)')
else {
  t.test('1 TiB sparse ext4', async t => {
    const r = await planSparse(t, TiB, ['mke2fs', '-q', '-F', '-t', 'ext4', '-E', 'nodiscard,lazy_itable_init=1,lazy_journal_init=1'])
    if (!r) return
    t.equal(r.v.decision, 'trim', 'the empty 1 TiB ext4 is trimmed')
    t.ok(r.v.freeBytes > 0.98 * TiB, `${r.v.freeBytes} bytes declared free in ${r.ranges} ranges`)
    // plain node starts at ~50 MB, so the plan must stay under ~100 MB
    t.ok(r.grew < 100e6, `planning 1 TiB grew the RSS by ${mb(r.grew)}`)
  })
}
