// XFS v4 (no CRCs; mkfs.xfs -m crc=0): this kernel may no longer mount v4, so
// the files come from mkfs.xfs's own proto file. The reader must give every
// file the proto names with its mode, owner, size, sha256 and link target,
// and the directories (shortform and, with 300 entries, the v4 XD2D/XD2B data
// blocks) with exactly the proto's entries.
import t from 'tap'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { GuestFs } from '../src/files/guest-fs.js'
import { bytes, openXfsImage, sparseImage } from './fixtures/xfs-files-image.js'
import { run } from './trim-helpers.js'
import { needTools, skipHere } from './tools.js'

async function lookup(fs: GuestFs, path: string): Promise<number> {
  let id = fs.root
  for (const part of path.split('/')) {
    let next: number | undefined
    for await (const e of fs.readdir(id)) if (e.name.toString() === part) next = e.id
    if (next === undefined) throw new Error(`${path}: ${part} not found`)
    id = next
  }
  return id
}

const missing = needTools('mkfs.xfs', 'xfs_db')
if (missing) skipHere(t, missing)
else
  t.test('v4 image made by mkfs.xfs -m crc=0 -p proto', async t => {
    const dir = t.testdir()
    const img = join(dir, 'fs.img')
    sparseImage(img, 320 << 20)
    const src: Record<string, Buffer> = { small: Buffer.from('hello v4\n'), big: bytes('v4big', (2 << 20) + 123), empty: Buffer.alloc(0) }
    for (const [n, b] of Object.entries(src)) writeFileSync(join(dir, n), b)
    const many = Array.from({ length: 300 }, (_, i) => `a-longer-file-name-in-a-v4-directory-${i}`)
    const longTarget = `/${'x'.repeat(40)}/`.repeat(12)
    const lines = [
      '/dev/null',
      '0 0',
      'd--755 0 0',
      `small ---640 1000 2000 ${join(dir, 'small')}`,
      `big -u-755 0 0 ${join(dir, 'big')}`,
      `empty ---600 0 0 ${join(dir, 'empty')}`,
      'short l--777 0 0 small',
      `long l--777 0 0 ${longTarget}`,
      'sub d--750 7 8',
      `inner ---644 0 0 ${join(dir, 'small')}`,
      '$',
      'many d--755 0 0',
      ...many.map(n => `${n} ---644 0 0 ${join(dir, 'empty')}`),
      '$',
      '$',
    ]
    writeFileSync(join(dir, 'proto'), `${lines.join('\n')}\n`)
    const mk = run('mkfs.xfs', ['-q', '-f', '-m', 'crc=0', '-p', join(dir, 'proto'), img])
    if (mk.status !== 0 && /V4|crc/i.test(mk.out)) {
      skipHere(t, `mkfs.xfs no longer makes v4 filesystems: ${mk.out.trim()}`)
      return
    }
    t.equal(mk.status, 0, `mkfs.xfs -m crc=0 ${mk.out.trim()}`)
    t.match(run('xfs_db', ['-r', '-c', 'version', img]).out, /versionnum \[0x[0-9a-f]+\+0x[0-9a-f]+\] = V4/, 'a v4 filesystem')

    const fs = await openXfsImage(t, img)
    const names = async (id: number): Promise<string[]> => {
      const out: string[] = []
      for await (const e of fs.readdir(id)) out.push(e.name.toString())
      return out.sort()
    }
    t.same(await names(fs.root), ['big', 'empty', 'long', 'many', 'short', 'small', 'sub'], 'root entries')
    t.same(await names(await lookup(fs, 'many')), [...many].sort(), 'the 300-entry directory')
    t.same(await names(await lookup(fs, 'sub')), ['inner'], 'sub entries')
    const want: [string, Buffer, number, number, number][] = [
      ['small', src.small!, 0o640, 1000, 2000],
      ['big', src.big!, 0o4755, 0, 0],
      ['empty', src.empty!, 0o600, 0, 0],
      ['sub/inner', src.small!, 0o644, 0, 0],
    ]
    for (const [p, data, perm, uid, gid] of want) {
      const id = await lookup(fs, p)
      const st = await fs.stat(id)
      t.same([st.type, st.perm.toString(8), st.uid, st.gid, st.size], ['file', perm.toString(8), uid, gid, data.length], `${p}: stat`)
      const buf = Buffer.alloc(st.size)
      t.equal(await fs.read(id, 0, buf), data.length, `${p}: read whole`)
      t.equal(createHash('sha256').update(buf).digest('hex'), createHash('sha256').update(data).digest('hex'), `${p}: sha256`)
    }
    const sub = await fs.stat(await lookup(fs, 'sub'))
    t.same([sub.type, sub.perm.toString(8), sub.uid, sub.gid], ['dir', '750', 7, 8], 'sub: stat')
    t.equal((await fs.readlink(await lookup(fs, 'short'))).toString(), 'small', 'inline symlink')
    t.equal((await fs.readlink(await lookup(fs, 'long'))).toString(), longTarget, 'remote symlink (v4: no block header)')
  })
