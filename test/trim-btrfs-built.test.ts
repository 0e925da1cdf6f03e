// btrfs volumes built at test time with the real tools (mkfs.btrfs, loop
// mounts with compress=zstd, subvolumes, a read-only snapshot, reflinks,
// files deleted after a commit), with metadata DUP (the default) and single,
// a small node size (deep trees) and no free-space tree (space_cache v1):
// the ranges the plan zeroes equal what btrfs-progs' own dump-tree of the
// chunk, dev and extent trees says is free; after zeroing them `btrfs check
// --readonly` is clean, every file (snapshot included) reads back with its
// sha256 through a read-only mount, nothing outside the ranges changed, the
// guard's recheck passes, and at least 90% of the deleted data is gone.

import t from 'tap'
import { join } from 'node:path'
import { planTrim } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { applyZeroer, changedOutside } from './trim-helpers.js'
import { btrfsMissing, buildBtrfs, countBlocks, fileShas, sh, withMount } from './fixtures/btrfs-image.js'
import { expectedFree } from './fixtures/btrfs-dump.js'

const missing = btrfsMissing()
if (missing) t.plan(0, missing)
else {
  const cases: { name: string; mkfs: string[]; smallFiles?: number; nodes?: string }[] = [
    { name: 'defaults (data single, metadata DUP, free-space tree)', mkfs: [] },
    { name: 'metadata single', mkfs: ['-m', 'single'] },
    { name: '4 KiB nodes, 1500 small files: a deep extent tree', mkfs: ['-n', '4096'], smallFiles: 1500 },
    { name: 'no free-space tree (space_cache v1)', mkfs: ['-R', '^free-space-tree'] },
  ]
  for (const c of cases) {
    t.test(c.name, async t => {
      const dir = t.testdir()
      const path = join(dir, 'btrfs.img')
      const img = buildBtrfs(path, { sizeMiB: 256, mkfs: c.mkfs, smallFiles: c.smallFiles, seed: c.name })
      t.ok(img.files.has('home-snap/user/old-report.bin') && img.files.has('home/user/reflinked.bin'), 'snapshot-only and reflinked files exist')
      const before = countBlocks(path, img.deleted)
      t.ok(before >= img.deletedBytes / 4096 * 0.9, `the deleted data is still on the volume (${before} blocks)`)
      const disk = await openFileDisk(path, 'd')
      const plan = await planTrim([disk], { journal: 'strict', lvmFree: false })
      await disk.close()
      const v = plan.report.disks[0]!.volumes[0]!
      t.equal(v.kind, 'btrfs')
      t.equal(v.decision, 'trim', `trimmed (${v.reason ?? ''})`)
      t.comment(JSON.stringify(v.details))
      const ranges = [...plan.freeRanges('d')]
      t.same(ranges, expectedFree(path), 'the free ranges are exactly those dump-tree of the chunk, dev and extent trees gives')
      t.equal(ranges.reduce((n, [, l]) => n + l, 0), v.freeBytes, 'the report counts the same bytes')
      const out = join(dir, 'trimmed.img')
      const res = await applyZeroer(plan, 'd', path, out)
      t.ok(res.changed > img.deletedBytes / 2, `the trim changed ${res.changed} bytes`)
      t.equal(changedOutside(path, out, ranges), 0, 'nothing outside the free ranges changed')
      sh('btrfs', ['check', '--readonly', out])
      t.pass('btrfs check --readonly is clean')
      t.same(withMount(out, ['ro'], mnt => fileShas(mnt)), img.files, 'every file, snapshot included, has its sha256')
      const after = countBlocks(out, img.deleted)
      t.ok(after <= before * 0.1, `at least 90% of the deleted data is gone (${before} blocks before, ${after} after)`)
      const outDisk = await openFileDisk(out, 'd')
      t.equal(await plan.guarded.recheck([outDisk]), undefined, 'the guard recheck is clean')
      await outDisk.close()
    })
  }
}
