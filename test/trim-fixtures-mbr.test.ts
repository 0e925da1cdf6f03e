// mbr-mixed: MBR with an extended partition. ext4 1 KiB blocks with crc16
// descriptors, swap in a logical partition, bigalloc, ext3 at an odd start
// sector, meta_bg with BLOCK_UNINIT groups; EBRs and gaps untouched. The NTFS
// p3 is trimmed only once an NTFS reader is registered (another module).
import t from 'tap'
import { fixturesMissing, manifest } from './trim-helpers.js'
import { checkImage } from './trim-fixture-check.js'

const missing = fixturesMissing()
if (missing) t.plan(0, missing)
else {
  const im = manifest().find(i => i.name === 'mbr-mixed')!
  t.test(im.name, async t => {
    const { plan } = await checkImage(t, im, { journal: 'strict', lvmFree: false }, t.testdir())
    const p7 = plan.report.disks[0]!.volumes.find(v => v.id === 'p7')!
    t.equal(p7.offset, 399423 * 512, 'p7 starts at the odd sector 399423')
    const p8 = plan.report.disks[0]!.volumes.find(v => v.id === 'p8')!
    t.ok((p8.details.blockUninitGroups as number) > 0, 'p8 has BLOCK_UNINIT groups, synthesised')
  })
}
