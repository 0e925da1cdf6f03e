// Damaged XFS images: a real v5 image (written through the kernel), then one
// structure broken with xfs_db (which rewrites the CRC, so the damage is the
// field itself) or by overwriting bytes at the address xfs_db gives. Reading
// the whole tree must end in one VMA_GUEST_DAMAGED line naming the inode and
// the volume offset, never a hang, a stack trace or another error.
import t, { type Test } from 'tap'
import { closeSync, copyFileSync, lstatSync, mkdirSync, openSync, readSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { GuestFs } from '../src/files/guest-fs.js'
import { VmaError } from '../src/util/errors.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { openXfsFs } from '../src/files/xfs/xfs-fs.js'
import { XFS_FILES_TOOLS, bytes, openXfsImage, sparseImage, withXfsMounts } from './fixtures/xfs-files-image.js'
import { mountImage, unmount } from './fixtures/xfs-image.js'
import { run } from './trim-helpers.js'

/** Reads every file, directory, link and xattr; the first error, or undefined. */
async function readAll(fs: GuestFs): Promise<unknown> {
  const buf = Buffer.alloc(1 << 20)
  const visit = async (id: number): Promise<void> => {
    const st = await fs.stat(id)
    await fs.xattrs(id)
    if (st.type === 'file') for (let off = 0; off < st.size; off += await fs.read(id, off, buf));
    if (st.type === 'symlink') await fs.readlink(id)
    if (st.type === 'dir') {
      const kids: number[] = []
      for await (const e of fs.readdir(id)) kids.push(e.id)
      for (const k of kids) await visit(k)
    }
  }
  try {
    await visit(fs.root)
    return undefined
  } catch (e) {
    return e
  }
}

function db(img: string, ...cmds: string[]): string {
  const r = run('xfs_db', ['-x', ...cmds.flatMap(c => ['-c', c]), img])
  if (r.status !== 0) throw new Error(`xfs_db ${cmds.join('; ')}: ${r.out}`)
  return r.out
}
const num = (out: string, field: string): number => Number(new RegExp(`^${field.replace(/[.[\]]/g, '\\$&')} = (\\d+)`, 'm').exec(out)?.[1] ?? NaN)

function build(t: Test, dir: string, img: string): Record<string, number> {
  sparseImage(img, 320 << 20)
  const mk = run('mkfs.xfs', ['-q', '-f', img])
  if (mk.status !== 0) throw new Error(mk.out)
  const m = mountImage(t, img, dir)
  // every other block written: 100 extents, more than the inode holds (a btree-format fork)
  const holes = openSync(join(m, 'holes'), 'w')
  for (let k = 0; k < 100; k++) writeSync(holes, bytes(`h${k}`, 4096), 0, 4096, k * 8192)
  closeSync(holes)
  const ext = openSync(join(m, 'ext'), 'w')
  for (let k = 0; k < 3; k++) writeSync(ext, bytes(`e${k}`, 4096), 0, 4096, k * 16384)
  closeSync(ext)
  mkdirSync(join(m, 'blockdir'))
  for (let i = 0; i < 40; i++) writeFileSync(join(m, 'blockdir', `entry-with-a-long-name-${i}`), '')
  writeFileSync(join(m, 'many'), 'x')
  for (let i = 0; i < 400; i++) {
    const r = run('setfattr', ['-n', `user.attribute-number-${i}`, '-v', `value-${i}-${'v'.repeat(40)}`, join(m, 'many')])
    if (r.status !== 0) throw new Error(r.out)
  }
  const inos = Object.fromEntries(['holes', 'ext', 'blockdir', 'many'].map(n => [n, Number(lstatSync(join(m, n)).ino)]))
  unmount(m)
  return inos
}

async function expectDamage(t: Test, img: string, re: RegExp, ino: number, offset?: number): Promise<void> {
  const e = await readAll(await openXfsImage(t, img, 'vol'))
  t.ok(e instanceof VmaError, `a VmaError (${e instanceof Error ? e.message : String(e)})`)
  if (!(e instanceof VmaError)) return
  t.equal(e.code, 'VMA_GUEST_DAMAGED', 'code')
  t.match(e.message, re, 'says what is wrong')
  t.match(e.message, new RegExp(`^vol: xfs inode ${ino}: .* at volume offset \\d+$`), 'one line naming the volume, the inode and the offset')
  if (offset !== undefined) t.match(e.message, new RegExp(`at volume offset ${offset}$`), 'the offset is the damaged block')
}

withXfsMounts(t, XFS_FILES_TOOLS, 'damaged structures', async t => {
  const dir = t.testdir()
  const img = join(dir, 'fs.img')
  const ino = build(t, dir, img)
  const sb = db(img, 'sb 0', 'p agcount agblklog agblocks blocksize')
  const bs = num(sb, 'blocksize')
  const agblocks = num(sb, 'agblocks')
  const copy = (name: string): string => {
    const p = join(dir, `${name}.img`)
    copyFileSync(img, p)
    return p
  }
  t.test('the undamaged image reads whole', async t => {
    t.equal(await readAll(await openXfsImage(t, img, 'vol')), undefined, 'no error')
  })
  t.test('a bmap B+tree pointer outside the AGs', async t => {
    const p = copy('bmbt')
    t.match(db(p, `inode ${ino.holes}`, 'p core.format'), /core.format = 3/, 'holes is in btree format')
    db(p, `inode ${ino.holes}`, `write u3.bmbt.ptrs[1] ${num(sb, 'agcount') * 2 ** num(sb, 'agblklog') + 5}`)
    await expectDamage(t, p, /bmap B\+tree block \d+ lies outside its AG/, ino.holes!)
  })
  t.test('more extents than the fork holds', async t => {
    const p = copy('nextents')
    t.match(db(p, `inode ${ino.ext}`, 'p core.format'), /core.format = 2/, 'ext is in extents format')
    db(p, `inode ${ino.ext}`, 'write core.nextents 100')
    await expectDamage(t, p, /100 extents do not fit the \d+-byte fork/, ino.ext!)
  })
  const dirBlock = (): number => {
    const m = /^data offset 0 startblock (\d+) \((\d+)\/(\d+)\)/m.exec(db(img, `inode ${ino.blockdir}`, 'bmap'))
    if (!m) throw new Error('no directory block')
    return (Number(m[2]) * agblocks + Number(m[3])) * bs
  }
  const poke = (p: string, off: number, b: Buffer): void => {
    const fd = openSync(p, 'r+')
    writeSync(fd, b, 0, b.length, off)
    closeSync(fd)
  }
  t.test('a directory block with a bad magic', async t => {
    const p = copy('dirmagic')
    const off = dirBlock()
    poke(p, off, Buffer.from('dead', 'hex'))
    await expectDamage(t, p, /directory block: bad magic 0xdead/, ino.blockdir!, off)
  })
  t.test('a directory block with a bad CRC', async t => {
    const p = copy('dircrc')
    const off = dirBlock()
    const b = Buffer.alloc(1)
    const fd = openSync(p, 'r')
    readSync(fd, b, 0, 1, off + 200)
    closeSync(fd)
    poke(p, off + 200, Buffer.from([b[0]! ^ 0x20]))
    await expectDamage(t, p, /directory block: CRC mismatch/, ino.blockdir!, off)
  })
  t.test('a loop in the attribute leaves', async t => {
    const p = copy('attrloop')
    const root = db(p, `inode ${ino.many}`, 'ablock 0', 'p hdr.info.hdr.magic btree')
    t.match(root, /magic = 0x3ebe/, 'many has a node-format attribute fork')
    const first = Number(/^0:\[0x[0-9a-f]+,(\d+)\]/m.exec(root)?.[1])
    // the last leaf (forw 0) is pointed back at the first
    let last = -1
    for (const m of root.matchAll(/^\d+:\[0x[0-9a-f]+,(\d+)\]/gm)) {
      const fb = Number(m[1])
      if (num(db(p, `inode ${ino.many}`, `ablock ${fb}`, 'p hdr.info.hdr.forw'), 'hdr.info.hdr.forw') === 0) last = fb
    }
    t.ok(last > 0 && last !== first, `the last leaf ${last}`)
    db(p, `inode ${ino.many}`, `ablock ${last}`, `write hdr.info.hdr.forw ${first}`)
    await expectDamage(t, p, /attribute leaf \d+ is reached twice \(a loop\)/, ino.many!)
  })
  t.test('an unknown incompat feature: unsupported, said at open', async t => {
    const p = copy('incompat')
    const bits = Number(/features_incompat = (0x[0-9a-f]+)/.exec(db(p, 'sb 0', 'p features_incompat'))?.[1])
    db(p, 'sb 0', `write -d features_incompat 0x${(bits | 0x40000000).toString(16)}`)
    const disk = await openFileDisk(p, 'vol')
    t.teardown(() => disk.close())
    const e = await openXfsFs(disk, 'vol').catch((x: unknown) => x)
    t.ok(e instanceof VmaError && e.code === 'VMA_GUEST_UNSUPPORTED', `VMA_GUEST_UNSUPPORTED (${e instanceof Error ? e.message : JSON.stringify(e)})`)
    t.match(e instanceof Error ? e.message : '', /^vol: xfs superblock: unknown incompat feature bits 0x40000000; cannot read it$/, 'one line naming the feature')
  })
  t.test('a realtime file: unsupported, naming the inode', async t => {
    const p = copy('realtime')
    db(p, `inode ${ino.ext}`, 'write core.realtime 1')
    const e = await readAll(await openXfsImage(t, p, 'vol'))
    t.ok(e instanceof VmaError && e.code === 'VMA_GUEST_UNSUPPORTED', `VMA_GUEST_UNSUPPORTED (${e instanceof Error ? e.message : String(e)})`)
    t.match(e instanceof Error ? e.message : '', new RegExp(`^vol: xfs inode ${ino.ext}: the file lives on the realtime device; cannot read it$`), 'one line naming the inode')
  })
})
