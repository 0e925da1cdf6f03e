// get from an ext4 inside an LVM logical volume, named as info --free-space
// names it (VG/LV). The PV is written in lvm2's on-disk format by
// test/trim-lvm-build.ts (lvm2's tools need device-mapper, absent here); the
// filesystem is a real mkfs.ext4 -d one, in a GPT partition's PV.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { BIN, cliEnv } from './helpers.js'
import { needTools } from './tools.js'
import { run, smallExt4 } from './restore-build.js'
import { E, MiB, PE_START, UUIDS, onePvVg, writePv } from './trim-lvm-build.js'

const cli = (args: string[]) => spawnSync(BIN, args, { env: cliEnv(), maxBuffer: 16 << 20 })

const skip = needTools('mkfs.ext4', 'sgdisk')
if (skip) t.plan(0, skip)
else {
  t.test('ls names the LV as info --free-space does; get reads a file in it', async t => {
    const dir = t.testdir()
    const fs = smallExt4(dir, 'fs.img', { 'alice/todo': 'in an LV\n' })
    const disk = join(dir, 'disk.raw')
    run('truncate', ['-s', String(66 * MiB), disk])
    run('sgdisk', ['-o', '-n', '1:2048:+64M', '-t', '1:8e00', disk])
    // The LV `home` is extents 2-5 of the PV (not its first bytes), so the mapping is exercised.
    const lv = 'home { id = "h" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1\n  segment1 { start_extent = 0 extent_count = 4 type = "striped" stripe_count = 1 stripes = ["pv0", 2] } }\n'
    writePv(disk, UUIDS[0]!, { metadata: onePvVg('vghome', 3, lv), at: MiB })
    run('dd', [`if=${fs}`, `of=${disk}`, 'bs=1M', `seek=${(MiB + PE_START + 2 * E) / MiB}`, 'conv=notrunc', 'status=none'])
    const archive = join(dir, 'lvm.vma')
    run(BIN, ['pack', '-q', archive, '--disk', `drive-scsi0=${disk}`])
    const info = JSON.parse(cli(['info', '--json', '--free-space', archive]).stdout.toString())
    const ids: string[] = info.disks[0].volumes.map((v: { id: string }) => v.id)
    t.ok(ids.includes('vghome/home'), `info --free-space names it vghome/home (${ids.join(', ')})`)
    const ls = cli(['ls', archive]).stdout.toString()
    t.match(ls, /^drive-scsi0:vghome\/home\s+ext4\s+16 MiB$/m)
    t.match(ls, /^drive-scsi0:p1\s+lvm2-pv\s/m)
    const r = cli(['get', archive, 'scsi0:vghome/home:/alice/todo', '-'])
    t.equal(r.status, 0, r.stderr.toString())
    t.equal(r.stdout.toString(), 'in an LV\n')
    const p1 = cli(['ls', archive, 'scsi0:p1:/'])
    t.equal(p1.status, 2)
    t.match(p1.stderr.toString(), /LVM2 PV: its logical volumes are listed on their own/)
  })
}
