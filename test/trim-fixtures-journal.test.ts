// Kernel-written ext4 images: copied under fsfreeze (trim), and copied live
// with 3 committed transactions in the journal (strict: skip; union: the
// journaled bitmap copies keep the fsync'ed file, which survives replay).
import t from 'tap'
import { join } from 'node:path'
import { fixturesMissing, manifest, haveTool, extractVolume, run, extFileSha, skipHere } from './trim-helpers.js'
import { checkImage, partsOf } from './trim-fixture-check.js'

const missing = fixturesMissing()
if (missing) t.plan(0, missing)
else {
  const all = manifest()
  t.test('ext4-frozen', async t => {
    await checkImage(t, all.find(i => i.name === 'ext4-frozen')!, { journal: 'strict', lvmFree: false }, t.testdir())
  })
  t.test('ext4-live-journal', async t => {
    const im = all.find(i => i.name === 'ext4-live-journal')!
    const dir = t.testdir()
    const { plan: strict, img } = await checkImage(t, im, { journal: 'strict', lvmFree: false }, dir)
    t.match(strict.report.disks[0]!.volumes[0]!.reason, /union/, 'the strict skip suggests union mode')
    const { planTrim } = await import('../src/trim/plan.js')
    const { openFileDisk } = await import('../src/trim/disk/file-disk.js')
    const { applyZeroer } = await import('./trim-helpers.js')
    const disk = await openFileDisk(img, 'drive-scsi0')
    const union = await planTrim([disk], { journal: 'union', lvmFree: false })
    const v = union.report.disks[0]!.volumes[0]!
    const mv = im.volumes[0]!
    t.equal(v.decision, 'trim', 'union: trimmed')
    t.equal(v.freeBytes, mv.union!.free_bytes, 'union: free bytes as the manifest')
    const out = join(dir, 'union.img')
    const res = await applyZeroer(union, 'drive-scsi0', img, out)
    t.equal(res.sha256, mv.union!.sha256_after_union_trim, 'union: sha256_after_union_trim')
    t.equal(await union.guarded.recheck([await openFileDisk(out, 'drive-scsi0')]), undefined, 'union: guard recheck clean')
    await disk.close()
    if (!haveTool('e2fsck') || !haveTool('debugfs')) {
      skipHere(t, 'e2fsprogs not installed: journal replay not checked')
      return
    }
    const vol = join(dir, 'p1.img')
    await extractVolume(out, partsOf(mv), vol)
    const fy = run('e2fsck', ['-fy', vol])
    t.ok(fy.status === 0 || fy.status === 1, `e2fsck -fy replays the journal (rc ${fy.status})`)
    t.equal(run('e2fsck', ['-fn', vol]).status, 0, 'e2fsck -fn clean after replay')
    const f = mv.fsynced_file!
    t.equal(extFileSha(vol, f.path, dir), f.sha256, `${f.path} intact after union trim + replay`)
  })
}
