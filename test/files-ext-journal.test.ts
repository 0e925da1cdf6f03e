// The ext reader on the kernel-written fixtures of the trim: `ext4-frozen`
// (copied under fsfreeze: clean journal) reads with no warning and every file
// the manifest lists has its sha256; `ext4-live-journal` (copied while
// mounted, 3 committed transactions not yet replayed) still reads, and says
// in one warning that recent changes may be missing, as debugfs does.
import t from 'tap'
import type { Test } from 'tap'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { TRIM_FIXTURES, decompress, fixturesMissing } from './trim-helpers.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { openExtFs } from '../src/files/ext/ext-fs.js'
import type { GuestFs } from '../src/files/guest-fs.js'
import type { VolumeReader } from '../src/trim/volume.js'

interface Vol {
  offset: number
  length: number
  files: { path: string; size: number; sha256: string }[]
  fsynced_file?: { path: string }
}

async function openPart(t: Test, name: string): Promise<{ fs: GuestFs; vol: Vol }> {
  const m = JSON.parse(readFileSync(join(TRIM_FIXTURES, 'manifest.json'), 'utf8')) as { images: { name: string; volumes: Vol[] }[] }
  const vol = m.images.find(i => i.name === name)!.volumes[0]!
  const disk = await openFileDisk(decompress(name, t.testdir()), name)
  t.teardown(() => disk.close())
  const part: VolumeReader = { size: vol.length, read: (b, off) => disk.read(b, vol.offset + off) }
  const r = await openExtFs(part, `${name} p1`)
  if (!('fs' in r)) throw new Error(`${name}: not ext`)
  return { fs: r.fs, vol }
}

async function sha(fs: GuestFs, path: string): Promise<{ size: number; sha256: string }> {
  let id = fs.root
  for (const part of path.split('/').filter(Boolean)) {
    let next: number | undefined
    for await (const e of fs.readdir(id)) if (e.name.toString() === part) next = e.id
    if (next === undefined) return { size: -1, sha256: 'missing' }
    id = next
  }
  const size = (await fs.stat(id)).size
  const buf = Buffer.alloc(size)
  await fs.read(id, 0, buf)
  return { size, sha256: createHash('sha256').update(buf).digest('hex') }
}

const missing = fixturesMissing()
if (missing) t.plan(0, missing)
else {
  t.test('ext4-frozen: clean, every file as the manifest says', async t => {
    const { fs, vol } = await openPart(t, 'ext4-frozen')
    t.same(fs.warnings, [], 'no warning')
    const bad = []
    for (const f of vol.files) {
      const got = await sha(fs, f.path)
      if (got.size !== f.size || got.sha256 !== f.sha256) bad.push(`${f.path}: ${JSON.stringify(got)}`)
    }
    t.same(bad, [], `${vol.files.length} files read with their size and sha256`)
  })

  t.test('ext4-live-journal: readable, with one warning', async t => {
    const { fs, vol } = await openPart(t, 'ext4-live-journal')
    t.equal(fs.warnings.length, 1, 'one warning')
    t.match(fs.warnings[0], /^ext4: the journal needs recovery: changes of the last seconds before the backup may be missing/, 'says recent changes may be missing')
    // files older than the journaled transactions are on disk as the manifest (after replay) says
    const bad = []
    let same = 0
    for (const f of vol.files) {
      if (f.path === vol.fsynced_file?.path) continue
      const got = await sha(fs, f.path)
      if (got.size === f.size && got.sha256 === f.sha256) same++
      else bad.push(f.path)
    }
    t.same(bad, [], `${same} files (all but the fsync'ed one) already on disk as after replay`)
  })
}
