// XFS volumes built at test time with mkfs.xfs and the kernel's XFS (loop
// mounts as root): files written, a filler and some files deleted so that free
// space holds old data. The plan's free ranges must equal what xfs_db lists
// (freesp -d minus the AGFL); zeroing them must leave xfs_repair -n clean,
// every kept file's sha256 unchanged through a read-only mount, and nothing
// outside them changed.
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { planTrim } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { applyZeroer, changedOutside, mergeRanges, run, skipHere, writeGarbage } from './trim-helpers.js'
import { buildXfs, cannotMount, xfsDbFreeRanges, xfsFileShas, xfsToolsMissing } from './fixtures/xfs-image.js'
import { KEEP } from './trim-built-check.js'

const MiB = 1 << 20
const missing = xfsToolsMissing()

async function trimAndCheck(t: Test, dir: string, img: string, shas: Record<string, string> | undefined): Promise<void> {
  const disk = await openFileDisk(img, 'd')
  const plan = await planTrim([disk], { journal: 'strict', lvmFree: false })
  await disk.close()
  const v = plan.report.disks[0]!.volumes[0]!
  t.equal(v.kind, 'xfs', 'kind')
  t.equal(v.decision, 'trim', `trimmed (${v.reason ?? JSON.stringify(v.details.log)})`)
  const ranges = [...plan.freeRanges('d')]
  t.same(ranges, mergeRanges(xfsDbFreeRanges(img)), 'free ranges = xfs_db freesp -d minus the AGFL')
  t.equal(
    v.freeBytes,
    ranges.reduce((a, r) => a + r[1], 0),
    'declared free bytes = the ranges',
  )
  const out = join(dir, 'trimmed.img')
  const res = await applyZeroer(plan, 'd', img, out)
  t.ok(res.changed > 32 * MiB, `the trim changed ${res.changed} bytes (deleted files and garbage)`)
  t.equal(changedOutside(img, out, ranges), 0, 'no byte outside the free ranges changed')
  const rep = run('xfs_repair', ['-n', '-f', out])
  t.equal(rep.status, 0, `xfs_repair -n clean after the trim ${rep.status ? rep.out.slice(-500) : ''}`)
  if (shas) t.same(xfsFileShas(t, out, dir, Object.keys(shas)), shas, 'every kept file unchanged (ro,norecovery mount)')
  const outDisk = await openFileDisk(out, 'd')
  t.equal(await plan.guarded.recheck([outDisk]), undefined, 'guard recheck clean')
  await outDisk.close()
}

if (missing.length) t.plan(0, `missing tools: ${missing.join(', ')} (Debian package xfsprogs, util-linux, mount)`)
else {
  const why = cannotMount(t.testdir())
  if (why) skipHere(t, `v5 images written through the kernel: ${why}`)
  else {
    const VARIANTS: { name: string; args: string[] }[] = [
      { name: 'v5 defaults (crc, reflink, rmapbt, finobt, sparse inodes, bigtime, inobtcount)', args: [] },
      { name: 'v5, 1 KiB blocks, nrext64', args: ['-b', 'size=1024', '-d', 'agcount=4', '-l', 'size=64m', '-i', 'nrext64=1'] },
      { name: 'v5, 4 KiB sectors, no reflink or rmapbt', args: ['-s', 'size=4096', '-m', 'reflink=0,rmapbt=0'] },
    ]
    for (const v of VARIANTS) {
      t.test(v.name, async t => {
        const dir = t.testdir()
        const img = join(dir, 'fs.img')
        const shas = buildXfs(t, dir, img, 320 * MiB, v.args)
        await trimAndCheck(t, dir, img, shas)
      })
    }
  }
  // This kernel may not mount v4 (CONFIG_XFS_SUPPORT_V4 is going away): the
  // files come from mkfs.xfs's own proto file, free space keeps the garbage.
  t.test('v4 (-m crc=0), populated by mkfs -p', async t => {
    const dir = t.testdir()
    const img = join(dir, 'fs.img')
    writeGarbage(img, 320 * MiB)
    const src = join(dir, 'a.bin')
    const { content } = await import('./trim-built-check.js')
    const { writeFileSync } = await import('node:fs')
    writeFileSync(src, content('/a.bin', KEEP['/a.bin']))
    const proto = join(dir, 'proto')
    writeFileSync(proto, `/dev/null\n0 0\nd--755 0 0\na.bin ---644 0 0 ${src}\n$\n$\n`)
    const mk = run('mkfs.xfs', ['-q', '-f', '-K', '-m', 'crc=0', '-p', proto, img])
    if (mk.status !== 0 && /V4|crc/i.test(mk.out)) {
      skipHere(t, `mkfs.xfs no longer makes v4 filesystems: ${mk.out.trim()}`)
      return
    }
    t.equal(mk.status, 0, `mkfs.xfs -m crc=0 ${mk.out.trim()}`)
    await trimAndCheck(t, dir, img, undefined)
  })
}
