// optimize --trim on an archive whose two disks
// hold one striped LV (first leg on drive-scsi0, second on drive-scsi1).
// The planner reports the LV on the disk of its first leg, but its free
// space lies on both: the restored LV must equal the same ext4 trimmed as a
// plain image, so drive-scsi1 must be zeroed too (and info --free-space must
// count its non-zero free bytes).
import t from 'tap'
import { join } from 'node:path'
import { readFileSync, writeFileSync } from 'node:fs'
import { E, gather } from './trim-lvm-build.js'
import { haveTool } from './trim-helpers.js'
import { buildStripedExt4 } from './trim-built-check.js'
import { cli } from './trim-archive-helpers.js'

if (!haveTool('mke2fs') || !haveTool('debugfs') || !haveTool('e2fsck')) t.plan(0, 'e2fsprogs missing (Debian package e2fsprogs)')
else {
  t.test('optimize --trim zeroes a striped LV on both of its disks', async t => {
    const dir = t.testdir()
    // The reference: the same ext4 trimmed as a plain image.
    const { disks, trimmed } = await buildStripedExt4(t, dir)
    const want = readFileSync(trimmed)

    const raw = join(dir, 'raw.vma')
    let r = cli(['pack', raw, '--disk', `drive-scsi0=${disks[0]}`, '--disk', `drive-scsi1=${disks[1]}`, '--ctime', '1764000000', '-q'])
    t.equal(r.status, 0, `pack ${r.stderr}`)

    r = cli(['info', '--free-space', '--json', raw])
    t.equal(r.status, 0, r.stderr)
    const info = JSON.parse(r.stdout)
    const lv = info.disks.flatMap((d: { volumes: { id: string }[] }) => d.volumes).find((v: { id: string }) => v.id === 'vgs/striped')
    t.equal(lv?.decision, 'trim', 'the striped LV is trimmed')

    const out = join(dir, 'out.vma')
    r = cli(['optimize', '--trim', '--json', raw, out])
    t.equal(r.status, 0, r.stderr)
    const res = JSON.parse(r.stdout)
    writeFileSync(join(dir, 'optimize.json'), r.stdout)

    const un = join(dir, 'un')
    r = cli(['unpack', out, un])
    t.equal(r.status, 0, r.stderr)
    const restored = gather([join(un, 'disk-drive-scsi0.raw'), join(un, 'disk-drive-scsi1.raw')], 8 * E)
    t.ok(restored.equals(want), 'the LV restored through both stripes equals the plainly trimmed ext4')
    const zeroed = res.trim?.zeroedBytes ?? {}
    t.ok(zeroed['drive-scsi1'] > 0, `bytes zeroed on the second leg's disk (${JSON.stringify(zeroed)})`)
  })
}
