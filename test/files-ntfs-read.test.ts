// The NTFS file reader (src/files/ntfs/) against ntfs-3g: a volume made with
// mkntfs and filled through an ntfs-3g mount with every kind of file (resident
// and non-resident, empty, fragmented, sparse, compressed, hard links,
// symlinks, a FIFO, odd names, alternate data streams, a directory of 5,000
// entries in INDX blocks). What the mount showed of every file (type, size,
// sha256, mtime, inode = MFT record, link count, symlink target) must be what
// the reader says, opening the image directly; names must match ntfsls.

import t from 'tap'
import { join } from 'node:path'
import { fillBigDirectory, fillInterleaved, fillVolume, makeNtfs, openImage, readAll, scanMount, scanReader, sha, withMount } from './fixtures/ntfs-files.js'
import { buildFragmentedMft, runlistOf } from './fixtures/ntfs-image.js'
import { run } from './fixtures/ntfs-tools.js'
import { needTools, skipHere } from './tools.js'

const noTool = needTools('mkntfs', 'ntfs-3g', 'umount', 'setfattr', 'ntfsls')
if (noTool) skipHere(t, noTool)
else {
  t.test('every file of an ntfs-3g-filled volume reads as the mount showed it', async t => {
    const img = join(t.testdir(), 'files.img')
    makeNtfs(img, 96)
    const { seen, streams } = withMount(t, img, mnt => {
      const streams = fillVolume(mnt)
      fillBigDirectory(mnt, 5000)
      return { seen: scanMount(mnt), streams }
    })
    const fs = await openImage(t, img)
    t.equal(fs.kind, 'ntfs')
    t.equal(fs.label, 'FILES')
    t.same(fs.warnings, [], 'a volume ntfs-3g unmounted cleanly has no warning')
    const got = await scanReader(fs)
    t.same([...got.keys()].sort(), [...seen.keys()].sort(), 'the same paths, each once (no DOS 8.3 aliases)')
    let compared = 0
    for (const [path, want] of seen) {
      const have = got.get(path)
      if (!have) continue
      const { size, nlink, ...rest } = want
      const { size: hsize, nlink: hnlink, ...hrest } = have
      t.same(hrest, rest, `${path}: type, sha256, mtime, MFT record, target`)
      if (want.type !== 'dir') t.equal(hsize, size, `${path}: size`)
      // ntfs-3g counts the DOS alias as a link (the record's link count); the reader counts names a user sees.
      if (path === '/names/A Long File Name With Spaces.document') t.same([hnlink, nlink], [1, 2], `${path}: link count without the DOS alias`)
      else if (want.type === 'file') t.equal(hnlink, nlink, `${path}: link count`)
      compared++
    }
    t.ok(compared > 5000, `${compared} paths compared`)
    t.equal(got.get('/plain/tiny.txt')?.mtimeNs, 946684798123000000n, 'mtime set by utimes, to the 100 ns')

    const stat = async (p: string) => fs.stat(got.get(p)!.ino)
    t.equal((await stat('/plain/readonly.txt')).perm, 0o444, 'read-only attribute: 0444')
    t.equal((await stat('/plain/tiny.txt')).perm, 0o644)
    t.equal((await stat('/plain')).perm, 0o755)
    t.equal((await stat('/links/target.txt')).nlink, 3, 'three names, three links')
    t.equal((await stat('/plain/tiny.txt')).allocated, 0, 'a resident file takes no cluster')
    t.equal((await stat('/sparse/all-hole')).allocated, 0, 'a file of one hole takes no cluster')
    t.ok((await stat('/comp/text.txt')).allocated < 300_000 / 4, 'compressed text takes far less than its size')

    t.match(run('ntfsls', ['-f', '-x', '-p', '/names', img]).toString(), /ALONGF~1\.DOC/i, 'the long name has a DOS alias')

    // Runs: holes are not data, and the runs tile 0 .. size.
    const runsOf = async (p: string) => {
      const out = []
      for await (const r of fs.runs(got.get(p)!.ino)) out.push(r)
      return out
    }
    t.same(await runsOf('/sparse/hole-then-data'), [
      { offset: 0, length: 10 * 1024 * 1024, data: false },
      { offset: 10 * 1024 * 1024, length: 5000, data: true },
    ])
    t.same(await runsOf('/sparse/all-hole'), [{ offset: 0, length: 5 * 1024 * 1024, data: false }])
    const dhd = await runsOf('/sparse/data-hole-data')
    t.same(
      dhd.map(r => r.data),
      [true, false, true],
      'data, hole, data',
    )
    t.equal(
      dhd.reduce((n, r) => (t.equal(r.offset, n), n + r.length), 0),
      3 * 1024 * 1024 + 9000,
      'runs cover the file',
    )
    const cs = await runsOf('/comp/sparse.txt')
    t.same(
      cs.map(r => r.data),
      [true, false, true],
      'a compressed sparse file: unit of data, hole units, unit of data',
    )

    // Alternate data streams.
    const ws = got.get('/names/with-streams.txt')!.ino
    t.same((await fs.streams!(ws)).sort(), [...streams.get('/names/with-streams.txt')!.keys()].sort())
    for (const [name, digest] of streams.get('/names/with-streams.txt')!) t.equal(sha(await readAll((o, b) => fs.readStream!(ws, name, o, b))), digest, `stream ${name}`)
    t.same(await fs.xattrs(ws), [])

    // Listing of the big directory equals ntfsls (which also hides DOS names).
    const many = got.get('/many')!.ino
    const names: string[] = []
    for await (const e of fs.readdir(many)) names.push(e.name.toString())
    const ntfsls = run('ntfsls', ['-f', '-p', '/many', img])
      .toString()
      .split('\n')
      .filter(n => n && n !== '.' && n !== '..')
    t.same(
      names,
      [...ntfsls].sort((a, b) => (a.toUpperCase() < b.toUpperCase() ? -1 : a.toUpperCase() > b.toUpperCase() ? 1 : 0)),
      'the index order',
    )
    t.same([...names].sort(), [...ntfsls].sort(), 'ntfsls lists the same 5,000 names')
    t.equal(names.length, 5000)
  })

  t.test('a file whose $DATA is split over several MFT records (attribute list)', async t => {
    const img = join(t.testdir(), 'interleaved.img')
    makeNtfs(img, 32)
    const seen = withMount(t, img, mnt => {
      fillInterleaved(mnt)
      return scanMount(mnt)
    })
    for (const name of ['/interleaved-a.bin', '/interleaved-b.bin']) {
      const segments = run('ntfsinfo', ['-i', String(seen.get(name)!.ino), img])
        .toString()
        .match(/Dumping attribute \$DATA \(0x80\) from mft record \d+/g)
      t.ok(segments && new Set(segments).size > 1, `${name} has $DATA in several records: ${segments}`)
    }
    t.same(await scanReader(await openImage(t, img)), seen)
  })

  t.test('a fragmented $MFT: records found through its own runlist', async t => {
    const img = buildFragmentedMft(join(t.testdir(), 'fragmft.img'))
    t.ok(runlistOf(img.path, 0).length > 1, '$MFT has several fragments')
    const got = await scanReader(await openImage(t, img.path))
    for (const [path, digest] of img.files) t.equal(got.get(path)?.sha256, digest, path)
    t.equal([...got.keys()].filter(p => p.startsWith('/s-')).length, 1500, 'all 1,500 small files listed')
  })
}
