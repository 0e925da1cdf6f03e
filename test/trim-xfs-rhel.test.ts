// A RHEL-like disk (GPT: ESP vfat, /boot XFS, LVM PV with an XFS root LV and a
// swap LV), its XFS volumes written and deleted through the kernel, packed
// into a VMA archive: info --free-space reports the XFS volumes as trimmed,
// optimize --trim writes an archive that Proxmox's own `vma extract` restores
// to exactly the disk minus the plan's free ranges, those ranges equal what
// xfs_db computes, both XFS volumes pass xfs_repair -n with every file intact,
// and at least 90% of the deleted data is gone from the archive.
import t from 'tap'
import { createHash } from 'node:crypto'
import { closeSync, openSync, readSync, fstatSync } from 'node:fs'
import { join } from 'node:path'
import { planTrim } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { applyZeroer, changedOutside, extractVolume, haveTool, mergeRanges, run } from './trim-helpers.js'
import { cli, vmaExtract, vmaMissing } from './trim-archive-helpers.js'
import { cannotMount, xfsDbFreeRanges, xfsFileShas, xfsToolsMissing } from './fixtures/xfs-image.js'
import { RHEL, RHEL_TOOLS, buildRhelDisk, rootOffset } from './fixtures/xfs-rhel-disk.js'
import { DELETE, content } from './trim-built-check.js'

const MiB = 1 << 20
const missing = [...xfsToolsMissing(), ...RHEL_TOOLS.filter(x => !haveTool(x))]

/** sha1 of every 4 KiB block of the data the guest deleted (the fillers and the DELETE files). */
function deletedBlocks(): Set<string> {
  const set = new Set<string>()
  const add = (b: Buffer): void => {
    for (let o = 0; o + 4096 <= b.length; o += 4096)
      set.add(
        createHash('sha1')
          .update(b.subarray(o, o + 4096))
          .digest('hex'),
      )
  }
  add(content('filler', MiB))
  for (const [p, size] of Object.entries(DELETE)) add(content(p, size))
  return set
}

/** 4 KiB blocks of `img` that hold deleted data. */
function countDeleted(img: string, set: Set<string>): number {
  const fd = openSync(img, 'r')
  const size = fstatSync(fd).size
  const buf = Buffer.alloc(4 * MiB)
  let n = 0
  for (let off = 0; off < size; off += buf.length) {
    const len = readSync(fd, buf, 0, Math.min(buf.length, size - off), off)
    for (let o = 0; o + 4096 <= len; o += 4096)
      if (
        set.has(
          createHash('sha1')
            .update(buf.subarray(o, o + 4096))
            .digest('hex'),
        )
      )
        n++
  }
  closeSync(fd)
  return n
}

const clip = (ranges: [number, number][], o: number, n: number): [number, number][] =>
  ranges.filter(([s, l]) => s < o + n && s + l > o).map(([s, l]): [number, number] => [Math.max(s, o) - o, Math.min(s + l, o + n) - Math.max(s, o)])

if (missing.length) t.plan(0, `missing tools: ${missing.join(', ')} (Debian packages xfsprogs, gdisk, dosfstools, util-linux)`)
else {
  const why = cannotMount(t.testdir()) ?? vmaMissing()
  if (why) t.plan(0, why)
  else {
    t.test('RHEL-like disk: GPT, ESP, /boot XFS, LVM with XFS root and swap', async t => {
      const dir = t.testdir()
      const { disk, boot, root } = buildRhelDisk(t, dir)
      const bootImg = join(dir, 'boot.img')
      const rootImg = join(dir, 'root.img')

      const d = await openFileDisk(disk, 'drive-scsi0')
      const plan = await planTrim([d], { journal: 'strict', lvmFree: false })
      await d.close()
      const ranges = [...plan.freeRanges('drive-scsi0')]
      t.same(clip(ranges, RHEL.boot.offset, RHEL.boot.length), mergeRanges(xfsDbFreeRanges(bootImg)), '/boot: free ranges = xfs_db freesp -d minus the AGFL')
      const rootLen = RHEL.root.extents * RHEL.extent
      t.same(clip(ranges, rootOffset, rootLen), mergeRanges(xfsDbFreeRanges(rootImg)), 'root LV: free ranges = xfs_db freesp -d minus the AGFL')
      t.same(clip(ranges, RHEL.esp.offset, RHEL.esp.length), [], 'nothing free on the ESP')

      const raw = join(dir, 'raw.vma')
      let r = cli(['pack', raw, '--disk', `drive-scsi0=${disk}`, '--ctime', '1764000000', '-q'])
      t.equal(r.status, 0, `pack ${r.stderr}`)
      r = cli(['info', '--free-space', '--json', raw])
      t.equal(r.status, 0, r.stderr)
      const vols = JSON.parse(r.stdout).disks[0].volumes as { id: string; kind: string; decision: string; freeBytes: number; nonZeroFreeBytes: number; reason?: string }[]
      const byId = new Map(vols.map(v => [v.id, v]))
      for (const [id, kind] of [
        ['p2', 'xfs'],
        ['rhel/root', 'xfs'],
        ['rhel/swap', 'swap'],
      ]) {
        const v = byId.get(id!)
        t.equal(v?.kind, kind, `${id} is ${kind}`)
        t.equal(v?.decision, 'trim', `${id} trimmed ${v?.reason ?? ''}`)
        t.ok((v?.nonZeroFreeBytes ?? 0) > MiB, `${id}: ${v?.freeBytes} bytes free, ${v?.nonZeroFreeBytes} of them non-zero`)
      }
      t.equal(byId.get('p1')?.decision, 'skip', `the ESP is left alone (${byId.get('p1')?.reason})`)

      const trimmed = join(dir, 'trimmed.vma')
      r = cli(['optimize', '--trim', raw, trimmed])
      t.equal(r.status, 0, r.stderr)
      // The report names what it trimmed, then how much data it zeroed (trim/report).
      t.match(r.stdout, /drive-scsi0: [^;\n]*p2 xfs 'boot'[^;\n]* trimmed, [\d.]+ MiB of data zeroed/)
      t.match(r.stdout, /drive-scsi0: [^;\n]*rhel\/root xfs 'root'[^;\n]* trimmed, [\d.]+ MiB of data zeroed/)
      const expected = await applyZeroer(plan, 'drive-scsi0', disk, join(dir, 'expected.img'), ranges)
      const ex = join(dir, 'extract')
      const x = await vmaExtract(trimmed, ex)
      t.equal(x.status, 0, `vma extract ${x.stderr}`)
      t.equal(x.sums.get('drive-scsi0'), expected.expectedSha256, 'Proxmox restores the disk minus exactly the free ranges')
      const restored = join(ex, 'disk-drive-scsi0.raw')
      t.equal(changedOutside(disk, restored, ranges), 0, 'nothing outside the free ranges changed')

      for (const [name, off, len, shas] of [
        ['boot', RHEL.boot.offset, RHEL.boot.length, boot],
        ['root', rootOffset, rootLen, root],
      ] as const) {
        const vol = join(dir, `${name}.restored.img`)
        await extractVolume(restored, [{ offset: off, length: len }], vol)
        const rep = run('xfs_repair', ['-n', '-f', vol])
        t.equal(rep.status, 0, `${name}: xfs_repair -n clean ${rep.status ? rep.out.slice(-300) : ''}`)
        t.same(xfsFileShas(t, vol, dir, Object.keys(shas)), shas, `${name}: every file unchanged`)
      }
      const set = deletedBlocks()
      const before = countDeleted(disk, set)
      const after = countDeleted(restored, set)
      t.ok(before > 2000, `the disk held ${before} blocks of deleted data`)
      t.ok(after <= before / 10, `≥ 90% of the deleted data is gone: ${before} → ${after} blocks (${((1 - after / before) * 100).toFixed(1)}% removed)`)
    })
  }
}
