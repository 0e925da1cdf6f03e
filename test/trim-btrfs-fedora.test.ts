// The goal on a Fedora-like disk (GPT, ESP vfat, /boot ext4, btrfs
// root with subvolumes, a snapshot, zstd and reflinks): packed into a VMA,
// `info --free-space --json` reports the btrfs volume with decision trim and
// its free and non-zero free bytes; `optimize --trim` proves its output;
// Proxmox's own `vma extract` restores a disk whose btrfs passes `btrfs
// check --readonly`, whose every file (snapshot included) keeps its sha256
// through a read-only mount, whose btrfs bytes equal the input with exactly
// the ranges dump-tree declares free zeroed, on which nothing outside /boot
// and / changed, and from which at least 90% of the deleted data is gone.

import t from 'tap'
import { createHash } from 'node:crypto'
import { closeSync, openSync, readSync } from 'node:fs'
import { join } from 'node:path'
import { cli, vmaExtract, vmaMissing } from './trim-archive-helpers.js'
import { changedOutside, extFileSha, extractVolume, haveTool, run } from './trim-helpers.js'
import { btrfsMissing, countBlocks, fileShas, sh, withMount } from './fixtures/btrfs-image.js'
import { buildFedoraDisk } from './fixtures/btrfs-fedora-disk.js'
import { expectedFree } from './fixtures/btrfs-dump.js'

/** sha256 of bytes [offset, offset+length) of `path` with the sorted volume ranges `zero` read as zeros. */
function shaWithZeros(path: string, offset: number, length: number, zero: [number, number][]): string {
  const fd = openSync(path, 'r')
  const h = createHash('sha256')
  const buf = Buffer.alloc(1 << 20)
  let k = 0
  for (let done = 0; done < length; done += buf.length) {
    const n = Math.min(buf.length, length - done)
    readSync(fd, buf, 0, n, offset + done)
    while (k < zero.length && zero[k]![0] + zero[k]![1] <= done) k++
    for (let j = k; j < zero.length && zero[j]![0] < done + n; j++) {
      buf.fill(0, Math.max(0, zero[j]![0] - done), Math.min(n, zero[j]![0] + zero[j]![1] - done))
    }
    h.update(buf.subarray(0, n))
  }
  closeSync(fd)
  return h.digest('hex')
}

const missing = btrfsMissing() ?? vmaMissing() ?? (['sgdisk', 'mkfs.vfat', 'mke2fs', 'e2fsck', 'debugfs', 'zerofree'].find(x => !haveTool(x)) ? 'missing gdisk, dosfstools or e2fsprogs' : undefined)
if (missing) t.plan(0, missing)
else {
  t.test('Fedora-like disk: optimize --trim, then Proxmox restores it', async t => {
    const dir = t.testdir()
    const disk = buildFedoraDisk(t, dir)
    const rootFree = expectedFree(disk.root.path)
    const rootFreeBytes = rootFree.reduce((n, [, l]) => n + l, 0)
    const raw = join(dir, 'raw.vma')
    let r = cli(['pack', raw, '--disk', `drive-scsi0=${disk.path}`, '--ctime', '1764000000', '-q'])
    t.equal(r.status, 0, `pack ${r.stderr}`)

    r = cli(['info', '--free-space', '--json', raw])
    t.equal(r.status, 0, r.stderr)
    const vols = JSON.parse(r.stdout).disks[0].volumes as { id: string; kind: string; decision: string; freeBytes: number; nonZeroFreeBytes: number; reason?: string }[]
    const p3 = vols.find(v => v.id === 'p3')!
    t.equal(p3.kind, 'btrfs')
    t.equal(p3.decision, 'trim', `p3 btrfs: trim ${p3.reason ?? ''}`)
    t.equal(p3.freeBytes, rootFreeBytes, 'p3: the free bytes dump-tree gives')
    t.ok(p3.nonZeroFreeBytes > disk.root.image.deletedBytes, `p3: ${p3.nonZeroFreeBytes} non-zero free bytes, more than the ${disk.root.image.deletedBytes} deleted`)
    t.equal(vols.find(v => v.id === 'p2')?.decision, 'trim', '/boot (ext4) trimmed')
    t.equal(vols.find(v => v.id === 'p1')?.decision, 'skip', 'the ESP (vfat) left alone')

    r = cli(['info', '--free-space', raw])
    t.match(r.stdout, /^\s+p3\s+btrfs\b.*trim: [\d.]+ [KMG]iB free, [\d.]+ [KMG]iB of it non-zero 'fedora'$/m, 'the text report: p3 btrfs, trim, free and non-zero free bytes, its label')

    const trimmed = join(dir, 'trimmed.vma')
    r = cli(['optimize', '--trim', raw, trimmed])
    t.equal(r.status, 0, r.stderr)
    t.match(r.stdout, /proven equal to the input outside the free space/)
    t.match(r.stdout, /p3 btrfs( '[^']*')? trimmed/)

    const out = join(dir, 'restored')
    const x = await vmaExtract(trimmed, out)
    t.equal(x.status, 0, `vma extract ${x.stderr}`)
    const restored = join(out, 'disk-drive-scsi0.raw')
    const { root, boot } = disk
    t.equal(
      changedOutside(disk.path, restored, [
        [boot.offset, boot.length],
        [root.offset, root.length],
      ]),
      0,
      'GPT, ESP and gaps unchanged',
    )
    t.equal(shaWithZeros(restored, root.offset, root.length, []), shaWithZeros(disk.path, root.offset, root.length, rootFree), '/ is exactly the input with the ranges dump-tree declares free zeroed')
    const rootOut = join(dir, 'root-restored.img')
    await extractVolume(restored, [root], rootOut)
    sh('btrfs', ['check', '--readonly', rootOut])
    t.pass('btrfs check --readonly is clean')
    t.same(
      withMount(restored, ['ro'], mnt => fileShas(mnt), root),
      root.image.files,
      'every file of /, snapshot included, keeps its sha256',
    )
    const bootOut = join(dir, 'boot-restored.img')
    await extractVolume(restored, [boot], bootOut)
    t.equal(run('e2fsck', ['-fn', bootOut]).status, 0, '/boot: e2fsck -fn clean')
    for (const [p, sha] of Object.entries(boot.shas)) t.equal(extFileSha(bootOut, p, dir), sha, `/boot${p} unchanged`)

    const before = countBlocks(disk.path, disk.deleted)
    const after = countBlocks(restored, disk.deleted)
    t.ok(before > 0 && after <= before * 0.1, `>= 90% of the deleted data removed: ${before} blocks before, ${after} after (${(100 - (100 * after) / before).toFixed(1)}%)`)
  })
}
