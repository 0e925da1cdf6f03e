// An XFS volume whose log needs recovery (the kernel shut down after the log
// was written, before its metadata reached its home: xfs_io shutdown -f, what
// a crash or a backup of a running guest leaves). xfs_repair -n agrees that
// the log must be replayed. The reader still answers from the on-disk
// structures, as a read-only mount without recovery does, and says once that
// recent changes may be missing.
import t from 'tap'
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { bytes, openXfsImage, sparseImage, withXfsMounts } from './fixtures/xfs-files-image.js'
import { mountImage, unmount } from './fixtures/xfs-image.js'
import { run } from './trim-helpers.js'

withXfsMounts(t, ['mkfs.xfs', 'xfs_io', 'xfs_repair', 'losetup'], 'a log that needs recovery: readable, one warning', async t => {
  const dir = t.testdir()
  const img = join(dir, 'fs.img')
  sparseImage(img, 320 << 20)
  const mk = run('mkfs.xfs', ['-q', '-f', img])
  t.equal(mk.status, 0, mk.out)
  const old = bytes('old', 300_000)
  let m = mountImage(t, img, dir)
  writeFileSync(join(m, 'old.bin'), old)
  unmount(m)
  m = mountImage(t, img, dir)
  writeFileSync(join(m, 'recent.bin'), bytes('recent', 5000))
  const sd = run('xfs_io', ['-x', '-c', 'shutdown -f', m])
  t.equal(sd.status, 0, `xfs_io shutdown -f ${sd.out}`)
  unmount(m)
  const rep = run('xfs_repair', ['-n', img])
  t.match(rep.out, /log/i, 'xfs_repair -n: the log needs replaying')
  t.not(rep.status, 0, 'xfs_repair -n refuses the dirty log')
  // what the on-disk structures say without the log: a norecovery mount's view
  const nm = mountImage(t, img, dir, 'loop,ro,norecovery')
  const listed = readdirSync(nm).sort()
  const oldSha = createHash('sha256')
    .update(readFileSync(join(nm, 'old.bin')))
    .digest('hex')
  unmount(nm)

  const fs = await openXfsImage(t, img)
  t.equal(fs.warnings.length, 1, 'one warning')
  t.match(fs.warnings[0], /log needs recovery.*may be missing/, `it says recent changes may be missing: ${fs.warnings[0]}`)
  t.notMatch(fs.warnings[0] ?? '', /\n/, 'one line')
  const names: string[] = []
  let oldId = -1
  for await (const e of fs.readdir(fs.root)) {
    names.push(e.name.toString())
    if (e.name.toString() === 'old.bin') oldId = e.id
  }
  t.same(names.sort(), listed, 'the root lists what a norecovery mount lists')
  const buf = Buffer.alloc(old.length)
  t.equal(await fs.read(oldId, 0, buf), old.length, 'old.bin read whole')
  t.equal(createHash('sha256').update(buf).digest('hex'), oldSha, 'old.bin equals the norecovery mount')
  t.equal(oldSha, createHash('sha256').update(old).digest('hex'), 'and what was written')
})
