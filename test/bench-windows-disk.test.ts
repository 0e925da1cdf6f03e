// The dedup benchmark's Windows-like disk (bench/windows-disk.ts): day 2 is a
// day of use of the same disk, made through FUSE and through ntfscp alike. ntfsfix finds the NTFS volume consistent, the
// replaced program file is gone and the new document is there (ntfscat gives
// back its bytes), the temp files are deleted but their data is still on disk,
// in clusters the NTFS reader declares free, so only --trim drops it; the
// rest of the disk (ESP, MSR, recovery) is untouched.

import t from 'tap'
import { skipHere } from './tools.js'
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { readNtfs } from '../src/trim/ntfs/ntfs.js'
import { buildBenchWindowsDisk, evolveWindows, windowsPartition } from '../bench/windows-disk.js'
import { fileContent } from '../bench/linux-disk.js'
import { NTFS_TOOLS } from './fixtures/ntfs-check.js'
import { fuseWorks, readAt } from './fixtures/ntfs-image.js'
import { fileVolume, missing, run, sha256, sha256File, status } from './fixtures/ntfs-tools.js'

const MiB = 1 << 20
const noTool = missing(...NTFS_TOOLS, 'sgdisk', 'mkfs.vfat')

/** Files of `dir` with data, as ntfsls -l lists them (name -> size); without FUSE dir/x is the root's "dir_x". */
function live(vol: string, dir: string, fuse: boolean): string[] {
  const out = run('ntfsls', ['-f', '-l', vol, '-p', fuse ? `/${dir}` : '/'])
    .toString()
    .split('\n')
  const prefix = fuse ? '' : `${dir.replaceAll('/', '_')}_`
  return out
    .map(l => /^\s*(\d+)\s+\w+\s+\d+\s+[\d:]+\s+\d+\s+(.+)$/.exec(l))
    .filter((m): m is RegExpExecArray => !!m && m[1] !== '0' && m[2]!.startsWith(prefix))
    .map(m => m[2]!.slice(prefix.length))
    .sort() // in the order evolveWindows picks them (readdir, sorted by code point)
}

if (noTool) skipHere(t, `${noTool} is not installed (Debian packages gdisk, dosfstools, ntfs-3g)`)
else {
  for (const fuse of [true, false]) {
    const how = fuse ? 'through ntfs-3g (FUSE)' : 'through ntfscp and ntfstruncate'
    t.test(`day 2 of the Windows disk, ${how}`, async t => {
      const dir = t.testdir()
      if (fuse && !fuseWorks(dir)) return t.plan(0, 'ntfs-3g cannot mount here (no /dev/fuse?)')
      const day1 = buildBenchWindowsDisk(join(dir, 'day1.img'), 160, join(dir, 'work'), { fuse })
      const day2 = { ...day1, path: join(dir, 'day2.img') }
      copyFileSync(day1.path, day2.path)
      // Day 43 replaces the second program file ((1 * 7 + 43) % 50 === 0), so a small disk has one.
      const day = 43
      evolveWindows(day2, join(dir, 'work'), day, { fuse })
      const p = windowsPartition(day2)
      const volume = (disk: string, name: string) => {
        const v = join(dir, name)
        run('dd', [`if=${disk}`, `of=${v}`, 'bs=1M', `skip=${p.offset / MiB}`, `count=${p.length / MiB}`, 'status=none'])
        return v
      }
      const vol = volume(day2.path, 'windows2.img')
      t.equal(status('ntfsfix', ['-n', vol]).rc, 0, 'ntfsfix -n finds the volume consistent')
      const before = live(volume(day1.path, 'windows1.img'), 'Program Files', fuse)
      t.ok(before.length > 2, `${before.length} program files on day 1`)
      t.same(
        live(vol, 'Program Files', fuse),
        before.filter((_, i) => i !== 1),
        'the second program file is gone on day 2',
      )
      const name = (rel: string) => (fuse ? rel : rel.replaceAll('/', '_'))
      const doc = run('ntfscat', ['-f', vol, name('Users/user/Documents/day43-0.bin')])
      t.equal(sha256(doc), sha256(fileContent(2 * MiB, day * 1000)), 'the new document reads back')
      t.same(live(vol, 'Windows/Temp', fuse), [], 'temp files deleted')
      const pagefile = fileContent(8 * MiB, 4242)
      for (let q = 1 + day; q < pagefile.length / 4096; q += 20) fileContent(4096, day * 100_000 + q).copy(pagefile, q * 4096)
      t.equal(sha256(run('ntfscat', ['-f', vol, 'pagefile.sys'])), sha256(pagefile), 'every 20th pagefile page rewritten')

      // The first temp file's first block is still on disk, in a free cluster.
      const at = readAt(day2.path, p.offset, p.length).indexOf(fileContent(4096, day * 7919))
      t.ok(at >= 0, 'deleted temp data is still in the volume')
      const verdict = await readNtfs(fileVolume(vol), { journal: 'strict', lvmFree: false })
      t.equal(verdict?.decision, 'trim', 'the NTFS reader trims the volume')
      if (verdict?.decision === 'trim') {
        const c = Math.floor((at - verdict.map.first) / verdict.map.unit)
        t.equal(verdict.map.used[c >> 3]! & (1 << (c & 7)), 0, 'and its cluster is free')
      }
      for (const q of day2.partitions.filter(q => q.content !== 'windows')) {
        t.equal(sha256File(day2.path, q.offset, q.length), sha256File(day1.path, q.offset, q.length), `${q.content} unchanged`)
      }
    })
  }
}
