// The NTFS reader through the commands users run: an ntfs-3g-filled volume
// in partition 1 of a GPT disk, packed by `vma-opt pack`; `vma-opt ls -l`
// lists it and `vma-opt get -r` restores it. Every file's sha256, size and
// mtime and every symlink's target equal what the ntfs-3g mount showed; the
// sparse file keeps its holes.

import t from 'tap'
import { execFileSync } from 'node:child_process'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { fillVolume, makeNtfs, scanMount, withMount } from './fixtures/ntfs-files.js'
import { run } from './fixtures/ntfs-tools.js'
import { BIN, cliEnv } from './helpers.js'
import { needTools, skipHere } from './tools.js'

const noTool = needTools('mkntfs', 'ntfs-3g', 'umount', 'setfattr', 'sgdisk')
if (noTool) skipHere(t, noTool)
else {
  t.test('ls and get of an NTFS partition inside a backup', async t => {
    const dir = t.testdir()
    const fs = join(dir, 'ntfs.img')
    makeNtfs(fs, 64)
    const seen = withMount(t, fs, mnt => {
      fillVolume(mnt)
      return scanMount(mnt)
    })
    const disk = join(dir, 'disk.raw')
    run('truncate', ['-s', `${66}M`, disk])
    run('sgdisk', ['-o', '-n', '1:2048:+64M', '-t', '1:0700', disk])
    run('dd', [`if=${fs}`, `of=${disk}`, 'bs=1M', 'seek=1', 'conv=notrunc', 'status=none'])
    const archive = join(dir, 'vzdump-qemu-100-2026_12_01-00_00_00.vma')
    const cli = (args: string[]) => execFileSync(BIN, args, { env: cliEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    cli(['pack', '-q', archive, '--disk', `drive-scsi0=${disk}`, '--ctime', '1764000000'])

    t.match(cli(['ls', archive]), /drive-scsi0:p1\s+ntfs\s+64 MiB\s+label "FILES"/)
    const listing = cli(['ls', '-l', archive, 'scsi0:p1:/links'])
    t.match(listing, /rel-link -> target\.txt/)
    t.match(listing, /-rw-r--r--\s+3\s+0\s+0\s+15 .* target\.txt/, 'a file with three names')

    const out = join(dir, 'out')
    cli(['get', '-r', archive, 'scsi0:p1:/', out])
    const got = scanMount(out)
    for (const [path, want] of seen) {
      if (want.type === 'fifo') continue // get does not create FIFOs (said on stderr)
      const have = got.get(path)
      t.ok(have, `${path} restored`)
      if (!have) continue
      t.equal(have.type, want.type, `${path}: type`)
      if (want.type === 'dir') continue
      t.same([have.sha256, have.size, have.target], [want.sha256, want.size, want.target], `${path}: content, size, target`)
      // utimes takes the time as a double of seconds: within 2 µs of the 100 ns NTFS time.
      if (want.type === 'file') t.ok(have.mtimeNs - want.mtimeNs < 2000n && want.mtimeNs - have.mtimeNs < 2000n, `${path}: mtime ${have.mtimeNs} ~ ${want.mtimeNs}`)
    }
    t.ok(statSync(join(out, 'sparse/hole-then-data')).blocks * 512 < 1024 * 1024, 'the 10 MiB hole stays a hole')
  })
}
