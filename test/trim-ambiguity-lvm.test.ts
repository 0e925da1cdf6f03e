// A VG whose extents are not all described by linear/striped areas is left
// whole: an interrupted pvmove (the moved LV LOCKED and mapped on the hidden
// mirror LV pvmove0, as lvm2 writes it) and a thin pool. lvm2's tools need
// device-mapper, so the PVs are written in lvm2's on-disk format by hand
// (test/trim-lvm-build.ts); the LV holds a real ext4.
import t from 'tap'
import { join } from 'node:path'
import { planTrim, type TrimPlan } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { applyZeroer, extFileSha, extractVolume, haveTool, run, writeGarbage } from './trim-helpers.js'
import { buildExt } from './trim-built-check.js'
import { E, PE_START, UUIDS, THIN_POOL, vgMetadata, vgText, writePv } from './trim-lvm-build.js'
import { place } from './fixtures/stale-disks.js'

const missing = ['mke2fs', 'e2fsck', 'debugfs'].filter(x => !haveTool(x))

/** lvm2's metadata in the middle of `pvmove /dev/sda /dev/sdb`: LV data (8 extents on pv0) is LOCKED and mapped on pvmove0, a mirror pv0 → pv1. */
const PVMOVE = vgText(
  'vgm',
  12,
  `data { id = "d" status = ["READ", "WRITE", "VISIBLE", "LOCKED"] flags = [] segment_count = 1
  segment1 { start_extent = 0 extent_count = 8 type = "striped" stripe_count = 1 stripes = ["pvmove0", 0] } }
pvmove0 { id = "m" status = ["READ", "WRITE", "PVMOVE"] flags = [] allocation_policy = "contiguous" segment_count = 1
  segment1 { start_extent = 0 extent_count = 8 type = "mirror" mirror_count = 2 extents_moved = 3 mirrors = ["pv0", 0, "pv1", 0] } }
`,
  2,
)

async function planOf(imgs: string[], lvmFree: boolean): Promise<TrimPlan> {
  const ds = await Promise.all(imgs.map((p, i) => openFileDisk(p, `sd${'ab'[i]}`)))
  const p = await planTrim(ds, { journal: 'strict', lvmFree })
  await Promise.all(ds.map(d => d.close()))
  return p
}

if (missing.length) t.plan(0, `missing tools: ${missing.join(', ')} (Debian package e2fsprogs)`)
else {
  t.test('interrupted pvmove (--trim-lvm-free): the VG is left whole', async t => {
    const dir = t.testdir()
    const fs = join(dir, 'fs.img')
    const shas = buildExt(t, dir, fs, 8 * E, ['-t', 'ext4'])
    const disks = [join(dir, 'sda.img'), join(dir, 'sdb.img')]
    disks.forEach((d, i) => {
      writeGarbage(d, 64 << 20)
      writePv(d, UUIDS[i]!, { metadata: PVMOVE })
    })
    place(disks[0]!, fs, PE_START) // the source: all of the LV
    const moved = join(dir, 'moved.img') // the destination: the first 3 extents copied so far
    writeGarbage(moved, 3 * E)
    place(moved, fs, 0)
    place(disks[1]!, moved, PE_START)
    const p = await planOf(disks, true)
    const vols = p.report.disks.flatMap(d => d.volumes)
    const vg = vols.find(v => v.id === 'vgm/*')
    t.equal(vg?.decision, 'skip', `the VG is skipped (${JSON.stringify(vols.map(v => [v.id, v.decision, v.reason]))})`)
    t.match(vg?.reason, /LV data is LOCKED .*VG vgm left untouched/, 'the reason names the locked LV')
    for (const d of ['sda', 'sdb']) t.same([...p.freeRanges(d)], [], `${d}: nothing declared free, not even unallocated extents`)
    const out = join(dir, 'sda.out.img')
    await applyZeroer(p, 'sda', disks[0]!, out)
    const vol = join(dir, 'lv.img')
    await extractVolume(out, [{ offset: PE_START, length: 8 * E }], vol)
    t.equal(run('e2fsck', ['-fn', vol]).status, 0, 'the moved LV: e2fsck clean')
    for (const [path, sha] of Object.entries(shas)) t.equal(extFileSha(vol, path, dir), sha, `${path} intact`)
  })

  t.test('a thin pool leaves its whole VG untouched, the striped LV beside it too', async t => {
    const dir = t.testdir()
    const disks = [join(dir, 'sda.img'), join(dir, 'sdb.img')]
    disks.forEach((d, i) => {
      writeGarbage(d, 64 << 20)
      writePv(d, UUIDS[i]!, { metadata: vgMetadata(THIN_POOL) })
    })
    const p = await planOf(disks, true)
    const vols = p.report.disks.flatMap(d => d.volumes)
    t.match(vols.find(v => v.id === 'vgs/*')?.reason, /LV pool has a thin-pool segment: VG vgs left untouched/, 'the reason names the segment type')
    t.notOk(
      vols.some(v => v.id === 'vgs/striped'),
      'no LV of the VG is looked into',
    )
    for (const d of ['sda', 'sdb']) t.same([...p.freeRanges(d)], [], `${d}: nothing declared free`)
  })
}
