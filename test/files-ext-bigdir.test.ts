// A directory of 100,000 entries (an htree the kernel builds on a loop mount) lists whole
// through the ext reader, and streams: when the first entry arrives only a
// few of the directory's blocks have been read, so memory does not grow with
// the directory. The names equal the source tree's.
import t from 'tap'
import { createHash } from 'node:crypto'
import { closeSync, mkdirSync, openSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { needTools, skipHere } from './tools.js'
import { cannotMount, mountImage, unmount } from './fixtures/xfs-image.js'
import { run } from './trim-helpers.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { openExtFs } from '../src/files/ext/ext-fs.js'
import type { VolumeReader } from '../src/trim/volume.js'

const N = 100_000
const nameOf = (i: number): string => `entry-${String(i).padStart(6, '0')}-${(i * 2654435761) % 1000003}`

const missing = needTools('mke2fs', 'debugfs', 'mount', 'umount', 'losetup')
if (missing) t.plan(0, missing)
else {
  t.test(`a directory of ${N} entries streams`, async t => {
    const dir = t.testdir()
    const why = cannotMount(dir)
    if (why) return skipHere(t, why)
    const img = join(dir, 'fs.img')
    writeFileSync(img, '')
    truncateSync(img, 256 << 20)
    const mk = run('mke2fs', ['-q', '-F', '-t', 'ext4', '-N', String(N + 1000), img])
    t.equal(mk.status, 0, `mke2fs: ${mk.out}`)
    // the kernel inserts into an htree in constant time (mke2fs -d into a linear directory would take minutes)
    const m = mountImage(t, img, dir)
    mkdirSync(join(m, 'big'))
    for (let i = 0; i < N; i++) closeSync(openSync(join(m, 'big', nameOf(i)), 'w'))
    unmount(m)
    t.match(run('debugfs', ['-R', 'htree /big', img]).out, /Root node dump/, '/big is an htree directory')

    const disk = await openFileDisk(img, 'img')
    t.teardown(() => disk.close())
    let bytesRead = 0
    const counting: VolumeReader = {
      size: disk.size,
      read: async (b, off) => {
        bytesRead += b.length
        await disk.read(b, off)
      },
    }
    const r = await openExtFs(counting, 'img')
    if (!('fs' in r)) throw new Error('not ext')
    const fs = r.fs
    let big: number | undefined
    for await (const e of fs.readdir(fs.root)) if (e.name.toString() === 'big') big = e.id
    t.ok(big, '/big found')
    const dirBlocks = (await fs.stat(big!)).size / 4096
    t.ok(dirBlocks > 500, `/big spans ${dirBlocks} blocks`)
    const before = bytesRead
    let atFirst = -1
    let count = 0
    const names: string[] = []
    for await (const e of fs.readdir(big!)) {
      if (atFirst < 0) atFirst = bytesRead - before
      count++
      names.push(e.name.toString())
    }
    t.equal(count, N, `${N} entries listed`)
    t.ok(atFirst <= 16 * 4096, `the first entry came after ${atFirst} bytes read, not the whole ${dirBlocks * 4096}-byte directory`)
    const total = bytesRead - before
    t.ok(total <= (dirBlocks + 64) * 4096, `the listing read ${total} bytes: each directory block once`)
    const want = Array.from({ length: N }, (_, i) => nameOf(i)).sort()
    const h = (xs: string[]): string => createHash('sha256').update(xs.join('\n')).digest('hex')
    t.equal(h(names.sort()), h(want), 'the names are those created')
  })
}
