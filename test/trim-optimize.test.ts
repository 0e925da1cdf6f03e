// optimize --trim, pack --trim and info --free-space on archives whose disks
// are the real images of ../shared/fixtures/trim: what Proxmox's own
// `vma extract` restores from the trimmed archive must be, disk by disk,
// exactly the image after a correct trim (the manifest's sha256, made and
// cross-checked with zerofree, ntfswipe, e2fsck and file contents).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { cli, extractSums as extract, vmaMissing } from './trim-archive-helpers.js'
import { decompress, fixturesMissing, manifest, type ManifestImage } from './trim-helpers.js'

const skip = fixturesMissing() ?? vmaMissing()

t.test('trim of the shared disk images', { skip }, async t => {
  const dir = t.testdir()
  const images = manifest().filter(i => !['ext4-live-journal'].includes(i.name))
  const byDevice = new Map<string, ManifestImage>()
  const disks: string[] = []
  images.forEach((img, i) => {
    const name = `drive-scsi${i}`
    byDevice.set(name, img)
    disks.push('--disk', `${name}=${decompress(img.name, dir)}`)
  })
  const raw = join(dir, 'raw.vma')
  let r = cli(['pack', raw, ...disks, '--ctime', '1764000000', '-q'])
  t.equal(r.status, 0, `pack ${r.stderr}`)

  await t.test('info --free-space reports what the manifest says, per volume', async t => {
    r = cli(['info', '--free-space', '--json', raw])
    t.equal(r.status, 0, r.stderr)
    const f = JSON.parse(r.stdout)
    for (const d of f.disks) {
      const img = byDevice.get(d.name)!
      for (const mv of img.volumes) {
        const v = d.volumes.find((x: { id: string }) => x.id === mv.id)
        if (!t.ok(v, `${img.name} ${mv.id} is reported`)) continue
        const want = mv.decision === 'optional' ? 'untouched' : mv.decision
        t.equal(v.decision, want, `${img.name} ${mv.id}: ${want}${v.reason ? ` (${v.reason})` : ''}`)
        if (mv.decision === 'trim') {
          t.equal(v.freeBytes, mv.free_bytes, `${img.name} ${mv.id}: declared free bytes`)
          t.equal(v.nonZeroFreeBytes, mv.free_nonzero_bytes, `${img.name} ${mv.id}: non-zero free bytes`)
        }
      }
    }
  })

  const trimmed = join(dir, 'trimmed.vma')
  await t.test('optimize --trim: Proxmox restores every disk exactly as a correct trim leaves it', async t => {
    r = cli(['optimize', '--trim', raw, trimmed])
    t.equal(r.status, 0, r.stderr)
    t.match(r.stdout, /proven equal to the input outside the free space/)
    t.match(r.stdout, /trim: drive-scsi\d+: p1 ext4( '[^']*')? trimmed/)
    t.match(r.stdout, /p1 (LUKS )?skipped: .*LUKS/, 'a skipped volume says why')
    const sums = await extract(t, trimmed, dir)
    for (const [name, img] of byDevice) t.equal(sums.get(name), img.sha256_after_trim, `${name} (${img.name}) after trim`)
  })

  await t.test('trimming a trimmed archive again changes nothing', async t => {
    r = cli(['optimize', '--trim', trimmed])
    t.equal(r.status, 0, r.stderr)
    t.match(r.stdout, /already optimized, left unchanged/)
    r = cli(['info', '--free-space', '--json', trimmed])
    t.equal(JSON.parse(r.stdout).nonZeroFreeBytes, 0, 'nothing declared free is non-zero any more')
  })

  await t.test('pack --trim writes what optimize --trim writes', async t => {
    const packed = join(dir, 'packed.vma')
    r = cli(['pack', '--trim', packed, ...disks, '--ctime', '1764000000', '-q'])
    t.equal(r.status, 0, r.stderr)
    t.ok(readFileSync(packed).equals(readFileSync(trimmed)), 'byte-identical to optimize --trim of the untrimmed pack: two runs, one result')
  })
})
