// optimize --share-with on real filesystems that share blocks (XFS with
// reflink, btrfs) on loop devices: day 2 of a VM's daily backups, optimized
// into the aligned form and shared with day 1, costs on disk (df after sync,
// and FIEMAP's shared flags) little more than what truly changed; Proxmox's
// vma restores both exactly; deleting either one leaves the other whole.
// Where nothing can be shared, optimize still optimizes, exits 0 and says why
// in one line.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { optimize } from '../src/optimize/optimize.js'
import { compareArchives } from '../src/compare/compare.js'
import { writeSampleArchive } from '../src/sample/sample-archive.js'
import { cliInProcess } from './helpers.js'
import { assertProxmoxReads, proxmoxVma, type Expected } from './proxmox-vma.js'
import { exclusiveBytes, extractedSums, loopFs, usedBytes, whyNoLoopFs } from './share-helpers.js'

const vma = proxmoxVma()
const noVma = vma.ok ? false : `Proxmox's vma cannot be used: ${vma.reason}`
const vmaPath = vma.ok ? vma.path : ''

const extracted = (file: string, dir: string): Expected => extractedSums(vmaPath, file, dir)

/** Drops the file's clean pages from the page cache, so that what follows reads the disk. */
function dropCache(file: string): void {
  spawnSync('xfs_io', ['-r', '-c', `fadvise -d 0 ${statSync(file).size}`, file])
}

/** Two days of one VM as vzdump writes them: three disks, ~3% of the big one rewritten in 8 places. */
async function dayPair(dir: string): Promise<[string, string]> {
  const devices = [
    { name: 'drive-efidisk0', size: 540672 },
    { name: 'drive-scsi0', size: 400 * 65536 },
    { name: 'drive-scsi1', size: 200 * 65536 + 8192 },
  ]
  const starts = [20, 70, 130, 170, 230, 290, 340, 380]
  const changed = (dev: number, c: number) => dev === 2 && starts.some(s => c >= s && c < s + 2)
  const a = join(dir, 'vzdump-qemu-100-2026_11_20-01_00_00.vma')
  const b = join(dir, 'vzdump-qemu-100-2026_11_21-01_00_00.vma')
  await writeSampleArchive(a, { devices, seed: 7, orderSeed: 1, fill: 0.8, ctime: 1_795_000_000 })
  await writeSampleArchive(b, { devices, seed: 7, orderSeed: 2, fill: 0.8, ctime: 1_795_086_400, changed })
  return [a, b]
}

for (const kind of ['xfs', 'btrfs'] as const) {
  t.test(`${kind}: day 2 shares with day 1 and costs what changed`, { skip: whyNoLoopFs(kind) || noVma }, async t => {
    const dir = t.testdir()
    const mnt = loopFs(t, kind, 400)
    const [a, b] = await dayPair(dir)
    const want = [extracted(a, dir), extracted(b, dir)] as const
    const changed = (await compareArchives(a, b)).total.added4k
    t.ok(changed > 0, `${changed} bytes of 4 KiB blocks truly changed`)

    for (const order of [0, 1]) {
      const day1 = join(mnt, `day1-${order}.vma`)
      const day2 = join(mnt, `day2-${order}.vma`)
      await optimize(a, { dest: day1, align: true })
      const before = await usedBytes(mnt)
      const r = await optimize(b, { dest: day2, shareWith: [day1] })
      t.ok(r.written && r.checked, 'day 2 is written and proven after sharing')
      t.equal(r.share?.why, undefined, 'nothing stood in the way of sharing')
      const cost = (await usedBytes(mnt)) - before
      const size = statSync(day2).size
      t.ok(cost <= 1.25 * changed, `df: day 2 (${size} bytes) costs ${cost} bytes, <= 1.25 x ${changed} truly changed`)
      t.ok(exclusiveBytes(day2) <= 1.25 * changed, `FIEMAP: ${exclusiveBytes(day2)} bytes of day 2 are its alone`)
      if (order === 0) {
        // Sharing (cloning while writing) writes exactly the bytes optimize --align writes.
        const plain = join(dir, 'day2-align.vma')
        await optimize(b, { dest: plain, align: true })
        const cmp = spawnSync('cmp', [plain, day2], { encoding: 'utf8' })
        t.equal(cmp.status, 0, `cmp: the shared day 2 is byte-identical to optimize --align's ${cmp.stdout}${cmp.stderr}`)
        rmSync(plain)
        await assertProxmoxReads(t, vmaPath, day1, want[0], `${kind} day 1`, { workDir: dir })
        await assertProxmoxReads(t, vmaPath, day2, want[1], `${kind} day 2 (shared)`, { workDir: dir })
      }
      // Delete one; the other still restores exactly, from the disk.
      const [gone, kept, keptWant, label] = order === 0 ? [day1, day2, want[1], 'day 2 after day 1 is deleted'] : [day2, day1, want[0], 'day 1 after day 2 is deleted']
      rmSync(gone)
      await usedBytes(mnt)
      dropCache(kept)
      await assertProxmoxReads(t, vmaPath, kept, keptWant, `${kind}: ${label}`, { workDir: dir })
      rmSync(kept)
    }
  })
}

t.test('where nothing can be shared: optimized anyway, exit 0, one line why', { skip: whyNoLoopFs('xfs') || whyNoLoopFs('tmpfs') }, async t => {
  const dir = t.testdir()
  const xfs = loopFs(t, 'xfs', 300)
  const tmp = loopFs(t, 'tmpfs', 200)
  const [a, b] = await dayPair(dir)
  const prevXfs = join(xfs, 'day1.vma')
  const prevTmp = join(tmp, 'day1.vma')
  await optimize(a, { dest: prevXfs, align: true })
  await optimize(a, { dest: prevTmp, align: true })
  const cases: [string[], RegExp][] = [
    [['--share-with', prevXfs, b, join(tmp, 'day2.vma')], /^share: tmpfs cannot share blocks between files: nothing shared$/m],
    [['--share-with', prevTmp, b, join(xfs, 'day2.vma')], /^share: .*day1\.vma is on another filesystem: nothing shared$/m],
    [['--share-with', prevXfs, b, join(xfs, 'day2.vma.zst')], /^share: a compressed archive cannot share blocks .*: nothing shared$/m],
  ]
  for (const [args, line] of cases) {
    const r = await cliInProcess(['optimize', ...args])
    t.equal(r.status, 0, `exit 0: ${args.join(' ')} ${r.stderr}`)
    t.match(r.stdout, /proven unchanged/, 'optimized and proven')
    t.match(r.stdout, line, 'says why nothing was shared, in one line')
    rmSync(args[3]!)
  }
  const u = await cliInProcess(['optimize', '--share-with', prevXfs, '--no-align', b, join(xfs, 'x.vma')])
  t.equal(u.status, 2, '--share-with with --no-align is a usage error')
})
