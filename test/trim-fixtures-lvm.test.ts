// gpt-ext4-swap-lvm: GPT with ext4, swap and an LVM2 PV whose LV `data` is an
// ext4 in two segments. Strict: ext4, swap and the LV trimmed, the raw LV and
// the PV label/metadata untouched; with lvmFree the unallocated extents too.
import t from 'tap'
import { fixturesMissing, manifest } from './trim-helpers.js'
import { checkImage, DISK } from './trim-fixture-check.js'

const missing = fixturesMissing()
if (missing) t.plan(0, missing)
else {
  const im = manifest().find(i => i.name === 'gpt-ext4-swap-lvm')!
  t.test('strict, without lvmFree', async t => {
    const dir = t.testdir()
    const { plan, img } = await checkImage(t, im, { journal: 'strict', lvmFree: false }, dir)
    const vols = plan.report.disks[0]!.volumes
    const data = vols.find(v => v.id === 'vgfix/data')!
    t.same((data.details.segments as unknown[]).length, 2, 'the LV is mapped from its two segments')
    const free = vols.find(v => v.id === 'vgfix/<free>')!
    t.equal(free.freeBytes, 58720256, 'unallocated extents counted but untouched')
    t.test('with lvmFree', async t => {
      await checkImage(t, im, { journal: 'strict', lvmFree: true }, dir, img)
    })
  })
  t.test('vmstate present: nothing trimmed', async t => {
    const { openFileDisk } = await import('../src/trim/disk/file-disk.js')
    const { planTrim } = await import('../src/trim/plan.js')
    const { decompress } = await import('./trim-helpers.js')
    const img = decompress(im.name, t.testdir())
    const disk = await openFileDisk(img, DISK)
    const vm = { name: 'vmstate', size: 4096, read: async (b: Buffer) => void b.fill(7) }
    const plan = await planTrim([disk, vm], { journal: 'strict', lvmFree: true })
    t.match(plan.report.reason, /vmstate/, 'the report says why')
    t.same([...plan.freeRanges(DISK)], [], 'no free range')
    t.notOk(
      plan.report.disks[0]!.volumes.some(v => v.decision === 'trim'),
      'no volume trimmed',
    )
    const buf = Buffer.alloc(65536, 0x55)
    t.equal(plan.zeroer(DISK).apply(1 << 20, buf), 0, 'zeroer zeroes nothing')
    t.equal(await plan.guarded.recheck([disk]), undefined, 'recheck of the untouched disk is clean, even without the vmstate device')
    await disk.close()
  })
}
