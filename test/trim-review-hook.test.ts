// The vzdump hook with --trim, run as vzdump runs it (env -i, vzdump's
// variables): a zstd archive of a real ext4 (deleted files' data in its free
// blocks) is trimmed in place; what it restores equals the image trimmed by
// the plan's zeroer directly, and a second run finds nothing left to zero
// and leaves the file alone (the in-place no-op check of optimize --trim).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, cliEnv } from './helpers.js'
import { planTrim } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { applyZeroer, haveTool, run } from './trim-helpers.js'
import { buildExt, TOOLS_MISSING } from './trim-built-check.js'

const BASE = 'vzdump-qemu-100-2026_11_21-22_46_19'

if (TOOLS_MISSING.length || !haveTool('zstd')) t.plan(0, `missing tools: ${[...TOOLS_MISSING, ...(haveTool('zstd') ? [] : ['zstd'])].join(', ')} (Debian packages e2fsprogs, zerofree, zstd)`)
else {
  t.test('hook --trim trims a zstd backup in place, then leaves it alone', async t => {
    const dir = t.testdir()
    const img = join(dir, 'disk.img')
    buildExt(t, dir, img, 12 << 20, ['-t', 'ext4'])
    const ref = await openFileDisk(img, 'd')
    const plan = await planTrim([ref], { journal: 'strict', lvmFree: false })
    await applyZeroer(plan, 'd', img, join(dir, 'want.img'))
    await ref.close()

    const dump = join(dir, 'dump')
    mkdirSync(dump)
    const target = join(dump, `${BASE}.vma.zst`)
    // A UEFI VM: its EFI variable store comes first (nothing on it to trim).
    const efi = join(dir, 'efi.img')
    writeFileSync(efi, Buffer.alloc(540672, 0x5a))
    let r = spawnSync(BIN, ['pack', target, '--disk', `drive-efidisk0=${efi}`, '--disk', `drive-scsi0=${img}`, '--ctime', '1764000000', '-q'], { env: cliEnv(), encoding: 'utf8' })
    t.equal(r.status, 0, r.stderr)
    const hook = join(dir, 'vma-opt-hook')
    r = spawnSync(BIN, ['hook', 'install', '--path', hook, '--trim'], { env: cliEnv(), encoding: 'utf8' })
    t.equal(r.status, 0, `hook install ${r.stderr}`)
    const vars = { LC_ALL: 'C', STOREID: 'local', DUMPDIR: dump, VMTYPE: 'qemu', HOSTNAME: 'web1', TARGET: target, LOGFILE: join(dump, `${BASE}.log`) }
    const vzdump = () => {
      const x = spawnSync('/usr/bin/env', ['-i', ...Object.entries(vars).map(([k, v]) => `${k}=${v}`), hook, 'backup-end', 'snapshot', '100'], { encoding: 'utf8' })
      return { status: x.status, log: x.stdout + x.stderr }
    }
    const first = vzdump()
    t.equal(first.status, 0, first.log)
    t.match(first.log, /proven equal to the input outside the free space/)
    t.match(first.log, /vma-opt: trim: drive-scsi0: disk ext4 .*trimmed/)
    t.notMatch(first.log, /efidisk0/, 'no nightly line about the EFI disk (issue 25)')
    const info = spawnSync(BIN, ['info', '--free-space', target], { env: cliEnv(), encoding: 'utf8' })
    t.match(info.stdout, /drive-efidisk0/, 'info --free-space still shows it')

    const restored = spawnSync(BIN, ['cat', target, 'drive-scsi0'], { env: cliEnv(), maxBuffer: 64 << 20 }).stdout
    t.ok(restored.equals(readFileSync(join(dir, 'want.img'))), 'the restored disk is the image with exactly the free space zeroed')
    const back = join(dir, 'back.img')
    require0(spawnSync('sh', ['-c', `"${BIN}" cat "${target}" drive-scsi0 > "${back}"`], { env: cliEnv() }).status)
    t.equal(run('e2fsck', ['-fn', back]).status, 0, 'e2fsck -fn is clean on the restored disk')

    const st = statSync(target)
    const again = vzdump()
    t.equal(again.status, 0, again.log)
    t.match(again.log, /is already optimized, left unchanged/)
    t.equal(statSync(target).mtimeMs, st.mtimeMs, 'second run is a no-op')
  })
}

function require0(status: number | null): void {
  if (status !== 0) throw new Error(`exit ${status}`)
}
