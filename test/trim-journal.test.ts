// optimize --trim options on the shared images: --trim-lvm-free, and the
// journal rules on a live snapshot (strict skips, union trims safely).
// As in trim-optimize.test.ts: archives whose disks
// are the real images of ../shared/fixtures/trim: what Proxmox's own
// `vma extract` restores from the trimmed archive must be, disk by disk,
// exactly the image after a correct trim (the manifest's sha256, made and
// cross-checked with zerofree, ntfswipe, e2fsck and file contents).
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { cli, extractSums as extract, vmaMissing, VMA } from './trim-archive-helpers.js'
import { decompress, fixturesMissing, manifest } from './trim-helpers.js'

const skip = fixturesMissing() ?? vmaMissing()

t.test('--trim-lvm-free also zeroes unallocated physical extents', { skip }, async t => {
  const dir = t.testdir()
  const img = manifest().find(i => i.name === 'gpt-ext4-swap-lvm')!
  const raw = join(dir, 'raw.vma')
  t.equal(cli(['pack', raw, '--disk', `drive-scsi0=${decompress(img.name, dir)}`, '-q']).status, 0)
  const out = join(dir, 'out.vma')
  const r = cli(['optimize', '--trim', '--trim-lvm-free', raw, out])
  t.equal(r.status, 0, r.stderr)
  t.equal((await extract(t, out, dir)).get('drive-scsi0'), img.sha256_after_trim_with_optional)
})

t.test('a live snapshot with a journal to replay: strict skips it, union trims it keeping the fsynced file', { skip }, async t => {
  const dir = t.testdir()
  const img = manifest().find(i => i.name === 'ext4-live-journal')!
  const vol = img.volumes.find(v => v.kind === 'ext4')!
  const raw = join(dir, 'raw.vma.zst')
  t.equal(cli(['pack', raw, '--disk', `drive-virtio0=${decompress(img.name, dir)}`, '-q']).status, 0)

  const strict = join(dir, 'strict.vma')
  let r = cli(['optimize', '--trim', raw, strict])
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /skipped: .*journal/, 'strict skips the volume, with the journal as reason')
  t.match(r.stdout, /--trim-journal union/, 'and suggests the union mode')
  t.equal((await extract(t, strict, dir)).get('drive-virtio0'), img.sha256, 'nothing changed')

  const union = join(dir, 'union.vma')
  r = cli(['optimize', '--trim', '--trim-journal', 'union', raw, union])
  t.equal(r.status, 0, r.stderr)
  const out = join(dir, 'x')
  t.equal(spawnSync(VMA, ['extract', union, out]).status, 0)
  const disk = join(out, 'disk-drive-virtio0.raw')
  const whole = readFileSync(disk)
  t.equal(createHash('sha256').update(whole).digest('hex'), vol.union!.sha256_after_union_trim, 'the disk equals the reference union trim')
  const part = whole.subarray(vol.offset, vol.offset + vol.length)
  // Replay the journal as the guest would at boot, then the fsynced file must be whole.
  const p = join(dir, 'p1.img')
  writeFileSync(p, part)
  const fsck = spawnSync('e2fsck', ['-fy', p], { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } })
  t.ok(fsck.status === 0 || fsck.status === 1, `e2fsck -fy replays the journal (exit ${fsck.status})`)
  const f = vol.fsynced_file!
  const dumped = join(dir, 'fsynced.bin')
  spawnSync('debugfs', ['-R', `dump ${f.path} ${dumped}`, p], { env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } })
  t.equal(createHash('sha256').update(readFileSync(dumped)).digest('hex'), f.sha256, `${f.path} intact after replay`)
})
