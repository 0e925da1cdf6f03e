// The XFS reader of files/guest-fs against the kernel: a v5 image written
// through a loop mount with a file of every kind (fixtures/xfs-files-image),
// then opened directly as a VolumeReader. Every file's type, mode, owner,
// size, nlink, mtime (ns), sha256, link target, device numbers and xattrs,
// and every directory's entries, must equal what the mounted kernel said;
// xfs_db confirms the image holds every fork and directory format.
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import type { GuestFs } from '../src/files/guest-fs.js'
import { type Expected, XFS_FILES_TOOLS, buildFilesImage, openXfsImage, withXfsMounts, xfsDbBmap, xfsDbField } from './fixtures/xfs-files-image.js'
import { run } from './trim-helpers.js'

const LEAF_BLOCK = (32 * 2 ** 30) / 4096
const FREE_BLOCK = (64 * 2 ** 30) / 4096

async function fileSha(fs: GuestFs, id: number, size: number): Promise<string> {
  const h = createHash('sha256')
  const buf = Buffer.alloc(300_000) // not a block multiple: reads straddle extents and holes
  for (let off = 0; off < size; ) {
    const n = await fs.read(id, off, buf)
    if (n === 0) throw new Error(`read at ${off} of ${size} returned nothing`)
    h.update(buf.subarray(0, n))
    off += n
  }
  return h.digest('hex')
}

/** Walks the reader's tree and compares every file with the kernel's snapshot. */
async function compareAll(t: Test, fs: GuestFs, want: Map<string, Expected>): Promise<void> {
  const seen = new Set<string>()
  const bad: string[] = []
  const eq = (path: string, what: string, got: unknown, exp: unknown): void => {
    const g = typeof got === 'bigint' ? got.toString() : JSON.stringify(got)
    const e = typeof exp === 'bigint' ? exp.toString() : JSON.stringify(exp)
    if (g !== e) bad.push(`/${path}: ${what} ${g} != ${e}`)
  }
  const visit = async (id: number, path: string): Promise<void> => {
    seen.add(path)
    const e = want.get(path)
    if (!e) {
      bad.push(`/${path}: not in the mounted tree`)
      return
    }
    const st = await fs.stat(id)
    eq(path, 'inode', id, e.ino)
    eq(path, 'type', st.type, e.type)
    eq(path, 'perm', st.perm.toString(8), e.perm.toString(8))
    eq(path, 'uid', st.uid, e.uid)
    eq(path, 'gid', st.gid, e.gid)
    eq(path, 'nlink', st.nlink, e.nlink)
    eq(path, 'mtime', BigInt(st.mtime.sec) * 1_000_000_000n + BigInt(st.mtime.nsec), e.mtimeNs)
    if (e.type !== 'dir') eq(path, 'size', st.size, e.size)
    const xa: Record<string, string> = {}
    for (const a of await fs.xattrs(id)) xa[a.name] = a.value.toString('hex')
    eq(path, 'xattrs', Object.fromEntries(Object.entries(xa).sort()), Object.fromEntries(Object.entries(e.xattrs).sort()))
    if (e.type === 'file') eq(path, 'sha256', await fileSha(fs, id, st.size), e.sha)
    if (e.type === 'symlink') eq(path, 'target', (await fs.readlink(id)).toString('hex'), e.target?.toString('hex'))
    if (e.rdev) eq(path, 'rdev', st.rdev, e.rdev)
    if (e.type === 'dir') {
      const names: string[] = []
      const kids: [number, string][] = []
      for await (const d of fs.readdir(id)) {
        names.push(d.name.toString())
        kids.push([d.id, d.name.toString()])
        const ke = want.get(path ? `${path}/${d.name}` : d.name.toString())
        if (ke && d.type !== undefined) eq(`${path}/${d.name}`, 'entry type', d.type, ke.type)
      }
      eq(path, 'entries', [...names].sort(), e.entries)
      for (const [kid, n] of kids) await visit(kid, path ? `${path}/${n}` : n)
    }
  }
  await visit(fs.root, '')
  for (const p of want.keys()) if (!seen.has(p)) bad.push(`/${p}: not listed by the reader`)
  t.same(bad.slice(0, 20), [], `every one of ${want.size} files equals the kernel's view (${bad.length} differences)`)
}

withXfsMounts(t, XFS_FILES_TOOLS, 'v5 image written by the kernel: every file, directory, link and xattr as the mount shows it', async t => {
  const dir = t.testdir()
  const img = join(dir, 'fs.img')
  const want = buildFilesImage(t, dir, img)
  const ino = (p: string): number => want.get(p)!.ino
  // the image holds what the test claims to cover
  t.match(xfsDbField(img, ino('dir-sf'), 'core.format'), /^1 /, 'dir-sf is shortform')
  t.equal(want.get('dir-block')!.size, 4096, 'dir-block is one block (block format)')
  const leaf = xfsDbBmap(img, ino('dir-leaf'))
  t.ok(leaf.includes(LEAF_BLOCK) && !leaf.some(b => b >= FREE_BLOCK), 'dir-leaf has a leaf block and no free index (leaf format)')
  t.ok(
    xfsDbBmap(img, ino('dir-node')).some(b => b >= FREE_BLOCK),
    'dir-node has a free index (node format)',
  )
  t.match(xfsDbField(img, ino('dir-btree'), 'core.format'), /^3 /, 'dir-btree has a btree-format data fork')
  for (const f of ['frag0', 'holes']) t.match(xfsDbField(img, ino(f), 'core.format'), /^3 /, `${f} has a btree-format data fork`)
  t.match(xfsDbField(img, ino('fast-link'), 'core.format'), /^1 /, 'fast-link is inline')
  t.match(xfsDbField(img, ino('remote-link'), 'core.format'), /^2 /, 'remote-link is in a block')
  t.match(xfsDbField(img, ino('xattr-sf'), 'core.aformat'), /^1 /, 'xattr-sf has a shortform attribute fork')
  t.match(xfsDbField(img, ino('xattr-remote'), 'core.aformat'), /^2 /, 'xattr-remote has attribute blocks')
  t.match(run('xfs_db', ['-r', '-c', `inode ${ino('xattr-many')}`, '-c', 'ablock 0', '-c', 'p hdr.info.hdr.magic', img]).out, /magic = 0x3ebe/, 'xattr-many has a node-format attribute fork')

  const fs = await openXfsImage(t, img)
  t.equal(fs.kind, 'xfs')
  t.same(fs.warnings, [], 'a cleanly unmounted log: no warning')
  await compareAll(t, fs, want)

  // runs: holes and unwritten extents are not data, written blocks are
  const runsOf = async (p: string) => {
    const out = []
    for await (const run of fs.runs(ino(p))) out.push(run)
    return out
  }
  t.same(
    await runsOf('prealloc'),
    [
      { offset: 0, length: 262144, data: false },
      { offset: 262144, length: 4096, data: true },
      { offset: 266240, length: want.get('prealloc')!.size - 266240, data: false },
    ],
    'prealloc: unwritten extents around the one written block are not data',
  )
  const sparse = await runsOf('sparse')
  t.same(
    sparse.map(r => r.data),
    [false, true, false, true, false],
    'sparse: hole, data, hole, data, hole',
  )
  t.equal(sparse.at(-1)!.offset + sparse.at(-1)!.length, 9 << 20, 'sparse: the runs cover the size')
  const holes = await runsOf('holes')
  t.equal(holes.filter(r => r.data).length, 200, 'holes: 200 data runs')
  // a read past the end fills nothing
  t.equal(await fs.read(ino('small.txt'), 100, Buffer.alloc(10)), 0, 'read past the end: 0 bytes')
})

// 1 KiB blocks with 8 KiB directory blocks (a directory block spans eight
// filesystem blocks, and extents may split it), 64-bit extent counters
// (nrext64: di_big_nextents) and 32-bit timestamps (no bigtime).
withXfsMounts(t, XFS_FILES_TOOLS, 'v5, 1 KiB blocks, 8 KiB directory blocks, nrext64, no bigtime: every file as the mount shows it', async t => {
  const dir = t.testdir()
  const img = join(dir, 'fs.img')
  const want = buildFilesImage(t, dir, img, ['-b', 'size=1024', '-n', 'size=8192', '-i', 'nrext64=1', '-m', 'bigtime=0'])
  const sb = run('xfs_db', ['-r', '-c', 'sb 0', '-c', 'p blocksize dirblklog features_incompat', img]).out
  t.match(sb, /blocksize = 1024\ndirblklog = 3\n/, '1 KiB blocks, 8-block directory blocks')
  t.match(xfsDbField(img, want.get('dir-btree')!.ino, 'core.format'), /^3 /, 'dir-btree has a btree-format data fork')
  await compareAll(t, await openXfsImage(t, img), want)
})
