// Damaged ext4 images: real images from mke2fs -d, one structure patched
// at the place debugfs names (a directory extent pointing outside the volume,
// an extent tree that loops, rec_len 0, bad metadata checksums, a hostile
// superblock). Each must end in one VMA_GUEST_DAMAGED line naming the inode
// and a volume offset: no hang, no crash, no other error.
import t from 'tap'
import type { Test } from 'tap'
import { closeSync, mkdirSync, openSync, readFileSync, truncateSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { needTools } from './tools.js'
import { run } from './trim-helpers.js'
import { content } from './trim-built-check.js'
import { openExtFs } from '../src/files/ext/ext-fs.js'
import type { GuestFs } from '../src/files/guest-fs.js'
import type { VolumeReader } from '../src/trim/volume.js'
import { VmaError } from '../src/util/errors.js'
import { crc32cRaw } from '../src/trim/bytes/crc32c.js'

const memVolume = (buf: Buffer): VolumeReader => ({
  size: buf.length,
  read: async (b, off) => {
    if (off < 0 || off + b.length > buf.length) throw new Error(`read of ${b.length} bytes at ${off} outside the ${buf.length}-byte volume`)
    buf.copy(b, 0, off, off + b.length)
  },
})

async function open(img: Buffer): Promise<GuestFs> {
  const r = await openExtFs(memVolume(img), 'vol')
  if (!('fs' in r)) throw new Error('not recognised')
  return r.fs
}

async function idOf(fs: GuestFs, path: string): Promise<number> {
  let id = fs.root
  for (const part of path.split('/').filter(Boolean)) {
    let next: number | undefined
    for await (const e of fs.readdir(id)) if (e.name.toString() === part) next = e.id
    if (next === undefined) throw new Error(`${path} not found`)
    id = next
  }
  return id
}

async function drain(it: AsyncIterable<unknown>): Promise<number> {
  let n = 0
  for await (const _ of it) n++
  return n
}

async function readAll(fs: GuestFs, id: number): Promise<void> {
  const buf = Buffer.alloc(65536)
  for (let off = 0; ; ) {
    const n = await fs.read(id, off, buf)
    if (!n) return
    off += n
  }
}

/** Asserts `f` rejects with one `code` line matching `re` (a damaged structure also names its volume offset). */
async function rejects(t: Test, code: 'VMA_GUEST_DAMAGED' | 'VMA_GUEST_UNSUPPORTED', f: () => Promise<unknown>, re: RegExp, what: string): Promise<void> {
  try {
    await f()
    t.fail(`${what}: no error`)
  } catch (e) {
    t.ok(e instanceof VmaError && e.code === code, `${what}: ${code} (${e instanceof Error ? e.message : String(e)})`)
    const msg = e instanceof Error ? e.message : ''
    t.notOk(msg.includes('\n'), `${what}: one line`)
    if (code === 'VMA_GUEST_DAMAGED') t.match(msg, /volume offset \d+/, `${what}: names a volume offset`)
    t.match(msg, re, `${what}: says what is wrong`)
  }
}

const damaged = (t: Test, f: () => Promise<unknown>, re: RegExp, what: string): Promise<void> => rejects(t, 'VMA_GUEST_DAMAGED', f, re, what)

function build(dir: string, name: string, args: string[]): { img: Buffer; path: string; bs: number } {
  const src = join(dir, `${name}-src`)
  mkdirSync(join(src, 'd'), { recursive: true })
  for (let i = 0; i < 20; i++) writeFileSync(join(src, `d/file-${i}`), `${i}\n`)
  // 20 separate 4 KiB islands: more extents than i_block holds, so a tree of depth 1
  const fd = openSync(join(src, 'islands.bin'), 'w')
  for (let i = 0; i < 20; i++) writeSync(fd, content(`island${i}`, 4096), 0, 4096, i * 65536)
  closeSync(fd)
  const path = join(dir, `${name}.img`)
  writeFileSync(path, '')
  truncateSync(path, 16 << 20)
  const mk = run('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', ...args, '-d', src, path])
  if (mk.status !== 0) throw new Error(mk.out)
  return { img: readFileSync(path), path, bs: 4096 }
}

/** Volume byte offset of a path's inode record, from debugfs imap. */
function inodeOffset(path: string, file: string, bs: number): number {
  const out = run('debugfs', ['-R', `imap ${file}`, path]).out
  const m = /located at block (\d+), offset (0x[0-9a-f]+)/.exec(out)
  if (!m) throw new Error(`imap ${file}: ${out}`)
  return Number(m[1]) * bs + Number(m[2])
}

const firstBlock = (path: string, file: string): number => Number(/^(\d+)$/m.exec(run('debugfs', ['-R', `bmap ${file} 0`, path]).out)?.[1])
const etbBlock = (path: string, file: string): number => Number(/\(ETB0\):(\d+)/.exec(run('debugfs', ['-R', `stat ${file}`, path]).out)?.[1])

const missing = needTools('mke2fs', 'debugfs')
if (missing) t.plan(0, missing)
else {
  const dir = t.testdir()
  const plain = build(dir, 'plain', ['-O', '^metadata_csum'])
  const csum = build(dir, 'csum', [])

  t.test('the unpatched images read whole', async t => {
    for (const im of [plain, csum]) {
      const fs = await open(im.img)
      t.equal(await drain(fs.readdir(await idOf(fs, '/d'))), 20, 'the 20 entries of /d')
      const isl = await idOf(fs, '/islands.bin')
      await readAll(fs, isl)
      t.ok((await drain(fs.runs(isl))) >= 39, '/islands.bin: its islands and holes')
      t.ok(etbBlock(im.path, '/islands.bin') > 0, '/islands.bin has an extent tree block')
    }
  })

  t.test('a directory extent pointing outside the volume', async t => {
    const img = Buffer.from(plain.img)
    const at = inodeOffset(plain.path, '/d', plain.bs) + 0x28 + 12
    img.writeUInt16LE(0, at + 6)
    img.writeUInt32LE(0x7fff0000, at + 8)
    const fs = await open(img)
    const id = await idOf(fs, '/d')
    await damaged(t, () => drain(fs.readdir(id)), /inode \d+: extent 0 .*outside the filesystem/, 'readdir')
  })

  t.test('an extent tree that loops back on its own block', async t => {
    const img = Buffer.from(plain.img)
    const etb = etbBlock(plain.path, '/islands.bin')
    const at = etb * plain.bs
    t.equal(img.readUInt16LE(at), 0xf30a, 'the extent block debugfs names')
    img.writeUInt16LE(1, at + 6) // depth 1: an index node
    img.writeUInt32LE(etb, at + 12 + 4) // whose first child is itself
    img.writeUInt16LE(0, at + 12 + 8)
    const fs = await open(img)
    const id = await idOf(fs, '/islands.bin')
    await damaged(t, () => drain(fs.runs(id)), /inode \d+: extent node at volume offset \d+ has depth 1 where its parent says 0/, 'runs')
    await damaged(t, () => readAll(fs, id), /depth 1 where its parent says 0/, 'read')
  })

  t.test('a directory entry with rec_len 0', async t => {
    const img = Buffer.from(plain.img)
    const at = firstBlock(plain.path, '/d') * plain.bs
    img.writeUInt16LE(0, at + 4)
    const fs = await open(img)
    const id = await idOf(fs, '/d')
    await damaged(t, () => drain(fs.readdir(id)), /directory entry at volume offset \d+ has rec_len 0/, 'readdir')
  })

  t.test('a rec_len past the end of the block', async t => {
    const img = Buffer.from(plain.img)
    const at = firstBlock(plain.path, '/d') * plain.bs
    img.writeUInt16LE(8192, at + 4)
    const fs = await open(img)
    await damaged(t, async () => drain(fs.readdir(await idOf(fs, '/d'))), /rec_len 8192, past the end of its block/, 'readdir')
  })

  t.test('metadata_csum: a flipped byte in a directory block, an inode, an extent block', async t => {
    const dirImg = Buffer.from(csum.img)
    const dblk = firstBlock(csum.path, '/d') * csum.bs
    dirImg[dblk + 12 + 12 + 8]! ^= 0x01 // a name byte of the third entry
    let fs = await open(dirImg)
    const d = await idOf(fs, '/d')
    await damaged(t, () => drain(fs.readdir(d)), /directory block at volume offset \d+ has a bad checksum/, 'directory block')

    const inoImg = Buffer.from(csum.img)
    const ioff = inodeOffset(csum.path, '/d/file-3', csum.bs)
    inoImg[ioff + 0x10]! ^= 0x01 // mtime
    fs = await open(inoImg)
    const f3 = await idOf(fs, '/d/file-3')
    await damaged(t, () => fs.stat(f3), new RegExp(`inode ${f3}: inode at volume offset ${ioff} has a bad checksum`), 'inode')

    const etbImg = Buffer.from(csum.img)
    const etb = etbBlock(csum.path, '/islands.bin')
    etbImg[etb * csum.bs + 12 + 12 + 4]! ^= 0x01 // the second extent's length
    fs = await open(etbImg)
    const isl = await idOf(fs, '/islands.bin')
    await damaged(t, () => drain(fs.runs(isl)), /extent block at volume offset \d+ has a bad checksum/, 'extent block')
  })

  t.test('a superblock that claims more blocks than the volume holds', async t => {
    const img = Buffer.from(plain.img)
    img.writeUInt32LE(img.readUInt32LE(1024 + 4) * 4, 1024 + 4)
    await damaged(t, () => open(img), /superblock at volume offset 1024 is invalid: filesystem .* larger than its container/, 'open')
    const withCsum = Buffer.from(csum.img)
    withCsum.writeUInt32LE(withCsum.readUInt32LE(1024 + 0x28) + 1, 1024 + 0x28)
    await damaged(t, () => open(withCsum), /superblock checksum mismatch/, 'open with metadata_csum')
    // a consistent superblock checksum over a hostile field: still refused, by the geometry check
    withCsum.writeUInt32LE(0xffffffff, 1024 + 0x28)
    withCsum.writeUInt32LE(crc32cRaw(0xffffffff, withCsum, 1024, 1024 + 0x3fc), 1024 + 0x3fc)
    await damaged(t, () => open(withCsum), /inodes per group 4294967295 invalid/, 'open with a huge inodes-per-group')
  })
}

if (!missing) {
  t.test('features the reader does not follow: a clear refusal, names still listed', async t => {
    const dir = t.testdir()
    const plain = build(dir, 'feat', ['-O', '^metadata_csum', '-I', '256'])
    // an encrypted file (the flag set on an inode): its entry lists, its contents are refused
    const enc = Buffer.from(plain.img)
    const ioff = inodeOffset(plain.path, '/d/file-3', plain.bs)
    enc.writeUInt32LE(enc.readUInt32LE(ioff + 0x20) | 0x800, ioff + 0x20)
    let fs = await open(enc)
    const f3 = await idOf(fs, '/d/file-3')
    t.equal((await fs.stat(f3)).size, 2, 'stat still answers')
    await rejects(t, 'VMA_GUEST_UNSUPPORTED', () => fs.read(f3, 0, Buffer.alloc(10)), /inode \d+ uses the encrypted flag/, 'read of an encrypted file')
    // an xattr whose value lives in another inode (ea_inode)
    const ea = Buffer.from(plain.img)
    const xoff = inodeOffset(plain.path, '/d/file-4', plain.bs)
    const extra = ea.readUInt16LE(xoff + 0x80)
    const at = xoff + 128 + extra
    ea.writeUInt32LE(0xea020000, at)
    ea.writeUInt32LE(0x00010104, at + 4) // name_len 4, index 1 (user.), value_offs 1
    ea.writeUInt32LE(77, at + 8) // e_value_inum
    ea.writeUInt32LE(10, at + 12)
    ea.write('name', at + 20)
    fs = await open(ea)
    const f4 = await idOf(fs, '/d/file-4')
    await rejects(t, 'VMA_GUEST_UNSUPPORTED', () => fs.xattrs(f4), /value of an extended attribute in inode 77 \(ea_inode\)/, 'xattr in an ea_inode')
    // an INCOMPAT feature the reader does not know
    const inc = Buffer.from(plain.img)
    inc.writeUInt32LE(inc.readUInt32LE(1024 + 0x60) | 0x100000, 1024 + 0x60)
    await rejects(t, 'VMA_GUEST_UNSUPPORTED', () => open(inc), /ext4 on vol uses the incompatible feature 0x100000/, 'unknown INCOMPAT bit')
  })
}
