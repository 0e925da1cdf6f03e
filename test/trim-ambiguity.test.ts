// A disk or volume with more than one plausible reading is never trimmed.
// Each disk here is built the way it happens in a guest (test/fixtures/
// stale-disks.ts): formatted whole, then partitioned with sfdisk, a live ext4
// in the partition; the stale superblock is still where blkid finds it. The
// planner must skip the whole disk and say why; and whatever it decides, the
// live partition's files must survive its zeroer (before this rule the stale
// filesystem's bitmaps were trusted and the live files were zeroed).
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { openSync, readSync, closeSync } from 'node:fs'
import { planTrim, type TrimPlan } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { applyZeroer, extFileSha, extractVolume, haveTool, run, writeGarbage } from './trim-helpers.js'
import { LIVE_MIB, MiB, STALE, place, sfdiskOnePartition, staleUnderMbr, mustRun } from './fixtures/stale-disks.js'
import { UUIDS, PE_START, onePvVg, writePv } from './trim-lvm-build.js'

const missing = ['mke2fs', 'e2fsck', 'debugfs', 'sfdisk', 'sgdisk', 'mkswap', 'mkntfs', 'blkid'].filter(x => !haveTool(x))

async function planOf(img: string, lvmFree = false): Promise<TrimPlan> {
  const d = await openFileDisk(img, 'd')
  const p = await planTrim([d], { journal: 'strict', lvmFree })
  await d.close()
  return p
}

/** The live p1 (1 MiB + LIVE_MIB) after the plan's zeroer: e2fsck clean and every file intact. */
async function liveP1Survives(t: Test, dir: string, img: string, plan: TrimPlan, shas: Record<string, string>, at = MiB): Promise<void> {
  const out = join(dir, 'out.img')
  await applyZeroer(plan, 'd', img, out)
  const vol = join(dir, 'p1.out.img')
  await extractVolume(out, [{ offset: at, length: LIVE_MIB * MiB }], vol)
  t.equal(run('e2fsck', ['-fn', vol]).status, 0, 'live p1: e2fsck -fn clean after the zeroer')
  for (const [p, sha] of Object.entries(shas)) t.equal(extFileSha(vol, p, dir), sha, `live p1: ${p} intact`)
}

if (missing.length) t.plan(0, `missing tools: ${missing.join(', ')} (Debian packages e2fsprogs, fdisk, gdisk, util-linux, ntfs-3g)`)
else {
  for (const [name, stale] of Object.entries(STALE)) {
    t.test(`stale whole-disk ${name} under an MBR from sfdisk`, async t => {
      const dir = t.testdir()
      const img = join(dir, 'disk.img')
      const shas = staleUnderMbr(t, dir, img, i => stale.make(t, join(dir, 'old'), i))
      const blkid = run('blkid', ['-p', '-o', 'udev', img]).out
      t.match(
        blkid,
        name === 'ntfs' ? /ID_FS_TYPE=ntfs/ : new RegExp(`ID_FS_TYPE=${name}[\\s\\S]*ID_PART_TABLE_TYPE=dos|ambivalent`),
        `blkid still sees the stale ${name}: ${blkid.replace(/\n/g, ' ')}`,
      )
      const p = await planOf(img)
      const d = p.report.disks[0]!
      const v = d.volumes.find(x => x.id === 'disk')
      t.equal(v?.decision, 'skip', `the whole disk is skipped (${v?.reason ?? JSON.stringify(d.volumes.map(x => [x.id, x.kind, x.decision]))})`)
      const want = { ext4: /ext superblock at 1024 and an MBR: ambiguous, skipped/, swap: /swap signature at 4086 and an MBR: ambiguous/, ntfs: /NTFS boot sector and an MBR: ambiguous/ }[name]!
      t.match(v?.reason, want, 'the reason names both readings')
      t.same([...p.freeRanges('d')], [], 'nothing declared free')
      await liveP1Survives(t, dir, img, p, shas)
    })
  }

  t.test('stale whole-disk LVM PV label under an MBR (--trim-lvm-free)', async t => {
    const dir = t.testdir()
    const img = join(dir, 'disk.img')
    const shas = staleUnderMbr(t, dir, img, i => writePv(i, UUIDS[0]!))
    const sec1 = Buffer.alloc(32)
    const fd = openSync(img, 'r')
    readSync(fd, sec1, 0, 32, 512)
    closeSync(fd)
    t.equal(sec1.toString('latin1', 0, 8) + sec1.toString('latin1', 24, 32), 'LABELONELVM2 001', 'the PV label survived sfdisk in sector 1')
    const p = await planOf(img, true)
    const v = p.report.disks[0]!.volumes.find(x => x.id === 'disk')
    t.match(v?.reason, /LVM2 PV label in sector 1 and an MBR: ambiguous, skipped/, 'skipped as ambiguous')
    t.same([...p.freeRanges('d')], [], 'nothing declared free')
    await liveP1Survives(t, dir, img, p, shas)
  })

  t.test('stale whole-disk NTFS under a GPT from sgdisk', async t => {
    const dir = t.testdir()
    const img = join(dir, 'disk.img')
    writeGarbage(img, 64 * MiB)
    mustRun('mkntfs', ['-q', '-F', '-f', img])
    mustRun('sgdisk', ['-g', '-n', `1:2048:+${LIVE_MIB}M`, '-t', '1:8300', img])
    const { buildExt } = await import('./trim-built-check.js')
    const fs = join(dir, 'p1.img')
    const shas = buildExt(t, dir, fs, LIVE_MIB * MiB, ['-t', 'ext4'])
    place(img, fs, MiB)
    const p = await planOf(img)
    const v = p.report.disks[0]!.volumes.find(x => x.id === 'disk')
    t.match(v?.reason, /NTFS boot sector and a GPT.*: ambiguous, skipped/, `skipped: ${v?.reason}`)
    await liveP1Survives(t, dir, img, p, shas)
  })

  t.test('an LV holding a nested VM disk: once a whole swap disk, later partitioned', async t => {
    const dir = t.testdir()
    // the nested disk: mkswap over all of it, then sfdisk, then a live ext4 in its p1
    const nested = join(dir, 'nested.img')
    writeGarbage(nested, 48 * MiB)
    mustRun('mkswap', [nested])
    sfdiskOnePartition(nested, LIVE_MIB)
    const { buildExt } = await import('./trim-built-check.js')
    const fs = join(dir, 'p1.img')
    const shas = buildExt(t, dir, fs, LIVE_MIB * MiB, ['-t', 'ext4'])
    place(nested, fs, MiB)
    // the host disk: a whole-disk PV whose VG has one linear LV (12 extents) holding the nested disk
    const img = join(dir, 'disk.img')
    writeGarbage(img, 64 * MiB)
    writePv(img, UUIDS[0]!, { metadata: nestedVg() })
    place(img, nested, PE_START)
    const p = await planOf(img)
    const v = p.report.disks[0]!.volumes.find(x => x.id === 'vgn/guest')
    t.equal(v?.decision, 'skip', `the LV is skipped (${v?.reason})`)
    t.match(v?.reason, /swap signature at 4086 and an MBR: ambiguous, skipped/, 'both readings named')
    await liveP1Survives(t, dir, img, p, shas, PE_START + MiB)
  })

  t.test('a plain MBR disk and a plain whole-disk ext4 still trim', async t => {
    const dir = t.testdir()
    const img = join(dir, 'disk.img')
    writeGarbage(img, 64 * MiB)
    sfdiskOnePartition(img, LIVE_MIB)
    const { buildExt } = await import('./trim-built-check.js')
    const fs = join(dir, 'p1.img')
    const shas = buildExt(t, dir, fs, LIVE_MIB * MiB, ['-t', 'ext4'])
    place(img, fs, MiB)
    const p = await planOf(img)
    t.equal(p.report.disks[0]!.volumes.find(x => x.id === 'p1')?.decision, 'trim', 'p1 trimmed')
    await liveP1Survives(t, dir, img, p, shas)
  })
}

/** VG vgn on UUIDS[0]: LV guest = extents 0-11 of the PV (48 MiB). */
function nestedVg(): string {
  return onePvVg(
    'vgn',
    3,
    `guest { id = "g" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
  segment1 { start_extent = 0 extent_count = 12 type = "striped" stripe_count = 1 stripes = ["pv0", 0] } }
`,
  )
}
