// LVM2 across two disks, written by hand in lvm2's on-disk format (lvm2's
// tools need device-mapper and block devices, absent here): a striped LV
// (2 stripes, 64 KiB) holding a real ext4 and a raw linear LV (a thin pool
// would leave the whole VG untouched: test/trim-ambiguity-lvm.test.ts). The striped LV must give exactly the free space and the
// zeroed bytes of the same ext4 trimmed as a plain image.
import t from 'tap'
import { openSync, readSync, closeSync, readFileSync } from 'node:fs'
import { planTrim } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { E, PE_START, gather } from './trim-lvm-build.js'
import { applyZeroer, haveTool } from './trim-helpers.js'
import { buildStripedExt4 } from './trim-built-check.js'

if (!haveTool('mke2fs') || !haveTool('debugfs') || !haveTool('e2fsck')) t.plan(0, 'e2fsprogs missing')
else {
  t.test('striped LV over two disks', async t => {
    const dir = t.testdir()
    const { disks, refPlan, trimmed } = await buildStripedExt4(t, dir)

    const handles = await Promise.all(disks.map((d, i) => openFileDisk(d, ['sda', 'sdb'][i]!)))
    const plan = await planTrim(handles, { journal: 'strict', lvmFree: false })
    const vols = Object.fromEntries(plan.report.disks.flatMap(d => d.volumes).map(v => [v.id, v]))
    t.equal(vols.disk?.decision, 'container', 'whole-disk PV is a container')
    t.equal(vols['vgs/striped']?.decision, 'trim', `striped LV trimmed (${vols['vgs/striped']?.reason ?? ''})`)
    t.equal(vols['vgs/striped']?.freeBytes, refPlan.report.disks[0]!.volumes[0]!.freeBytes, 'same free bytes as the plain ext4')
    t.match(vols['vgs/raw']?.reason, /no recognised signature/, 'raw LV skipped')
    t.equal(vols['vgs/<free>']?.decision, 'untouched', 'unallocated extents untouched without lvmFree')
    const outs = disks.map(d => d.replace('.img', '.out.img'))
    for (let i = 0; i < 2; i++) await applyZeroer(plan, ['sda', 'sdb'][i]!, disks[i]!, outs[i]!)
    t.ok(gather(outs, 8 * E).equals(readFileSync(trimmed)), 'the LV read back through the stripes equals the plainly trimmed ext4')
    for (let i = 0; i < 2; i++) {
      const a = Buffer.alloc(PE_START)
      const b = Buffer.alloc(PE_START)
      const fa = openSync(disks[i]!, 'r')
      const fb = openSync(outs[i]!, 'r')
      readSync(fa, a, 0, PE_START, 0)
      readSync(fb, b, 0, PE_START, 0)
      closeSync(fa)
      closeSync(fb)
      t.ok(a.equals(b), `disk ${i}: PV label and metadata area untouched`)
    }
    const outHandles = await Promise.all(outs.map((d, i) => openFileDisk(d, ['sda', 'sdb'][i]!)))
    t.equal(await plan.guarded.recheck(outHandles), undefined, 'guard recheck clean across both disks')

    const one = await planTrim([handles[0]!], { journal: 'strict', lvmFree: true })
    const v1 = Object.fromEntries(one.report.disks[0]!.volumes.map(v => [v.id, v]))
    t.match(v1['vgs/striped']?.reason, /not in this archive/, 'with only one disk the striped LV is skipped')
    t.equal(v1['vgs/<free>']?.decision, 'trim', "lvmFree: the present PV's unallocated extents are trimmed")
    t.equal(v1['vgs/<free>']?.freeBytes, (15 - 4) * E, 'pv0: 15 extents minus 4 striped')
    await Promise.all([...handles, ...outHandles].map(h => h.close()))
  })
}
