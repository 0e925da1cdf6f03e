// End to end through the CLI and Proxmox's own `vma extract`: an archive
// whose first disk was formatted whole (ext4) and later partitioned with
// sfdisk, with a live ext4 in the partition, beside an ordinary partitioned
// disk. optimize --trim must leave the ambiguous disk bit for bit, trim the
// other, and report what it zeroed (non-zero bytes that became zero, equal to
// what info --free-space calls non-zero) and nothing else; a second run zeroes
// nothing and says so. Also: info --free-space --trim-lvm-free counts an LV
// lying between free extents once, and an external journal device is named.
import t from 'tap'
import { join } from 'node:path'
import { mkdirSync } from 'node:fs'
import { cli, sha256File, vmaExtract, vmaMissing } from './trim-archive-helpers.js'
import { extFileSha, extractVolume, haveTool, run, writeGarbage } from './trim-helpers.js'
import { buildExt } from './trim-built-check.js'
import { LIVE_MIB, MiB, STALE, place, sfdiskOnePartition, staleUnderMbr, mustRun } from './fixtures/stale-disks.js'
import { E, PE_START, UUIDS, onePvVg, writePv } from './trim-lvm-build.js'

const missing = ['mke2fs', 'e2fsck', 'debugfs', 'sfdisk'].filter(x => !haveTool(x))
const skip = missing.length ? `missing tools: ${missing.join(', ')} (Debian packages e2fsprogs, fdisk)` : vmaMissing()

interface Vol {
  id: string
  kind: string
  decision: string
  reason?: string
  freeBytes: number
  nonZeroFreeBytes: number
}
const volumesOf = (json: string): Vol[] => (JSON.parse(json) as { disks: { volumes: Vol[] }[] }).disks.flatMap(d => d.volumes)

t.test('optimize --trim of an archive holding a stale whole-disk ext4 under an MBR', { skip }, async t => {
  const dir = t.testdir()
  const stale = join(dir, 'stale.img')
  const staleShas = staleUnderMbr(t, join(dir, 's'), stale, i => STALE.ext4!.make(t, join(dir, 'old'), i))
  const plain = join(dir, 'plain.img')
  writeGarbage(plain, 64 * MiB)
  sfdiskOnePartition(plain, LIVE_MIB)
  mkdirSync(join(dir, 'p'))
  const fs = join(dir, 'p', 'p1.img')
  const plainShas = buildExt(t, join(dir, 'p'), fs, LIVE_MIB * MiB, ['-t', 'ext4'])
  place(plain, fs, MiB)

  const raw = join(dir, 'raw.vma')
  let r = cli(['pack', raw, '--disk', `drive-scsi0=${stale}`, '--disk', `drive-scsi1=${plain}`, '--ctime', '1764000000', '-q'])
  t.equal(r.status, 0, `pack ${r.stderr}`)
  r = cli(['info', '--free-space', '--json', raw])
  t.equal(r.status, 0, r.stderr)
  const free = JSON.parse(r.stdout) as { nonZeroFreeBytes: number }
  t.ok(free.nonZeroFreeBytes > 1_000_000, `info --free-space: ${free.nonZeroFreeBytes} non-zero bytes declared free on drive-scsi1`)

  const out = join(dir, 'out.vma')
  r = cli(['optimize', '--trim', raw, out])
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /trim: drive-scsi0: disk ambiguous skipped: ext superblock at 1024 and an MBR: ambiguous, skipped/, 'the ambiguous disk is named with both readings')
  const z = /trim: drive-scsi1: p1 ext4 trimmed, (\S+ \S+) of data zeroed in their free space/.exec(r.stdout)
  t.ok(z, `drive-scsi1 says how much data was zeroed: ${r.stdout}`)
  t.notMatch(r.stdout, /declared free/, 'no declared-free amount is presented as trimmed')
  r = cli(['optimize', '--trim', '--json', raw, join(dir, 'out2.vma')])
  const zeroed = (JSON.parse(r.stdout) as { trim: { zeroedBytes: Record<string, number> } }).trim.zeroedBytes
  t.same(zeroed, { 'drive-scsi0': 0, 'drive-scsi1': free.nonZeroFreeBytes }, 'zeroed bytes: exactly what info --free-space called non-zero, none on the ambiguous disk')

  const ex = join(dir, 'ex')
  const extracted = await vmaExtract(out, ex)
  t.equal(extracted.status, 0, `Proxmox's vma extract exits 0 ${extracted.stderr}`)
  t.equal(extracted.sums.get('drive-scsi0'), await sha256File(stale), 'vma extract: the ambiguous disk is restored bit for bit')
  for (const [name, img, shas] of [
    ['drive-scsi0', stale, staleShas],
    ['drive-scsi1', plain, plainShas],
  ] as const) {
    const vol = join(dir, `${name}.p1.img`)
    await extractVolume(join(ex, `disk-${name}.raw`), [{ offset: MiB, length: LIVE_MIB * MiB }], vol)
    t.equal(run('e2fsck', ['-fn', vol]).status, 0, `${name} (${img === stale ? 'stale' : 'plain'}): the live p1 restored by vma extract is e2fsck clean`)
    for (const [p, sha] of Object.entries(shas)) t.equal(extFileSha(vol, p, dir), sha, `${name}: ${p} intact`)
  }

  r = cli(['optimize', '--trim', out])
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /already optimized, left unchanged/, 'a second run leaves the file alone')
  t.match(r.stdout, /trim: drive-scsi1: nothing zeroed, the free space of p1 ext4 already holds only zeros/, 'and says nothing was zeroed')
  t.notMatch(r.stdout, /of data zeroed/, 'no amount claimed')
})

t.test('info --free-space --trim-lvm-free: an LV between free extents is counted once', { skip }, async t => {
  const dir = t.testdir()
  const fs = join(dir, 'lv.img')
  buildExt(t, dir, fs, 4 * E, ['-t', 'ext4'])
  const img = join(dir, 'pv.img')
  writeGarbage(img, 64 * MiB)
  writePv(img, UUIDS[0]!, { metadata: middleLvVg() })
  place(img, fs, PE_START + 4 * E)
  const raw = join(dir, 'raw.vma')
  let r = cli(['pack', raw, '--disk', `drive-scsi0=${img}`, '--ctime', '1764000000', '-q'])
  t.equal(r.status, 0, r.stderr)
  r = cli(['info', '--free-space', '--trim-lvm-free', '--json', raw])
  t.equal(r.status, 0, r.stderr)
  const vols = volumesOf(r.stdout)
  const lv = vols.find(v => v.id === 'vgm/mid')
  const pvFree = vols.find(v => v.id === 'vgm/<free>')
  t.equal(lv?.decision, 'trim', 'the LV is trimmed')
  t.equal(pvFree?.freeBytes, 11 * E, 'eleven free extents')
  t.equal(pvFree?.nonZeroFreeBytes, 11 * E, 'their garbage is non-zero: exactly their size, not more')
  for (const v of vols) t.ok(v.nonZeroFreeBytes <= v.freeBytes, `${v.id}: non-zero free ${v.nonZeroFreeBytes} ≤ free ${v.freeBytes}`)
  const total = (JSON.parse(r.stdout) as { nonZeroFreeBytes: number }).nonZeroFreeBytes
  r = cli(['optimize', '--trim', '--trim-lvm-free', '--json', raw, join(dir, 'out.vma')])
  t.equal(r.status, 0, r.stderr)
  t.equal((JSON.parse(r.stdout) as { trim: { zeroedBytes: Record<string, number> } }).trim.zeroedBytes['drive-scsi0'], total, 'optimize zeroes exactly the non-zero total info reported')
})

t.test('an external journal device is named as one', { skip: missing.length ? skip : undefined }, async t => {
  const dir = t.testdir()
  const img = join(dir, 'jdev.img')
  writeGarbage(img, 16 * MiB)
  mustRun('mke2fs', ['-q', '-F', '-O', 'journal_dev', img])
  const { planTrim } = await import('../src/trim/plan.js')
  const { openFileDisk } = await import('../src/trim/disk/file-disk.js')
  const d = await openFileDisk(img, 'd')
  const p = await planTrim([d], { journal: 'strict', lvmFree: false })
  await d.close()
  t.equal(p.report.disks[0]!.volumes[0]!.reason, 'external journal device, not a filesystem')
})

/** VG vgm on UUIDS[0]: LV mid = extents 4-7, free extents 0-3 and 8-14 on both sides. */
function middleLvVg(): string {
  return onePvVg(
    'vgm',
    2,
    `mid { id = "m" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
  segment1 { start_extent = 0 extent_count = 4 type = "striped" stripe_count = 1 stripes = ["pv0", 4] } }
`,
  )
}
