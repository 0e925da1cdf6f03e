// Partitioned disks built at test time: a GPT made by sgdisk (ext4, swap, a
// raw partition), also with its primary and then both headers damaged; an MBR
// written by hand with a partition at an odd sector and an EBR chain.
import t from 'tap'
import { join } from 'node:path'
import { openSync, readSync, writeSync, closeSync, copyFileSync } from 'node:fs'
import { planTrim, type TrimPlan } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { applyZeroer, changedOutside, extFileSha, extractVolume, haveTool, run, writeGarbage } from './trim-helpers.js'
import { buildExt } from './trim-built-check.js'
import { place } from './fixtures/stale-disks.js'

const MiB = 1 << 20
const missing = ['mke2fs', 'e2fsck', 'debugfs', 'sgdisk', 'mkswap'].filter(x => !haveTool(x))

/** Flips every bit of one byte (damages whatever structure holds it). */
function flip(img: string, at: number): void {
  const fd = openSync(img, 'r+')
  const b = Buffer.alloc(1)
  readSync(fd, b, 0, 1, at)
  b[0] = b[0]! ^ 0xff
  writeSync(fd, b, 0, 1, at)
  closeSync(fd)
}

function patch(img: string, at: number, bytes: Buffer): void {
  const fd = openSync(img, 'r+')
  writeSync(fd, bytes, 0, bytes.length, at)
  closeSync(fd)
}

async function plan(img: string): Promise<TrimPlan> {
  const d = await openFileDisk(img, 'd')
  const p = await planTrim([d], { journal: 'strict', lvmFree: false })
  await d.close()
  return p
}

const decisions = (p: TrimPlan): Record<string, string> => Object.fromEntries(p.report.disks[0]!.volumes.map(v => [v.id, `${v.kind}:${v.decision}`]))

if (missing.length) t.plan(0, `missing tools: ${missing.join(', ')} (Debian packages e2fsprogs, gdisk, util-linux)`)
else {
  t.test('GPT by sgdisk: ext4, swap, raw', async t => {
    const dir = t.testdir()
    const img = join(dir, 'disk.img')
    writeGarbage(img, 80 * MiB)
    const sg = run('sgdisk', ['-n', '1:2048:+40M', '-t', '1:8300', '-n', '2:0:+16M', '-t', '2:8200', '-n', '3:0:+8M', '-t', '3:8300', img])
    t.equal(sg.status, 0, `sgdisk ${sg.out.trim()}`)
    const fs = join(dir, 'fs.img')
    const shas = buildExt(t, dir, fs, 40 * MiB, ['-t', 'ext4'])
    place(img, fs, 2048 * 512)
    const sw = join(dir, 'swap.img')
    writeGarbage(sw, 16 * MiB)
    t.equal(run('mkswap', ['-L', 'sw', sw]).status, 0, 'mkswap')
    place(img, sw, (2048 + 40 * 2048) * 512)
    const p = await plan(img)
    t.same(decisions(p), { p1: 'ext4:trim', p2: 'swap:trim', p3: 'raw:skip' }, 'decisions')
    t.equal(p.report.disks[0]!.table, 'gpt')
    t.equal(p.report.disks[0]!.volumes.find(v => v.id === 'p2')!.freeBytes, 16 * MiB - 4096, 'swap: everything but the header page')
    const out = join(dir, 'out.img')
    await applyZeroer(p, 'd', img, out)
    t.equal(changedOutside(img, out, [...p.freeRanges('d')]), 0, 'nothing outside the free ranges changed (GPT, gaps, raw p3, swap header)')
    const vol = join(dir, 'p1.img')
    await extractVolume(out, [{ offset: 2048 * 512, length: 40 * MiB }], vol)
    t.equal(run('e2fsck', ['-fn', vol]).status, 0, 'p1: e2fsck -fn clean')
    for (const [path, sha] of Object.entries(shas)) t.equal(extFileSha(vol, path, dir), sha, `p1: ${path} unchanged`)
    const swOut = join(dir, 'p2.img')
    await extractVolume(out, [{ offset: (2048 + 40 * 2048) * 512, length: 16 * MiB }], swOut)
    t.match(run('blkid', ['-p', swOut]).out, /LABEL="sw".*TYPE="swap"|TYPE="swap".*LABEL="sw"/, 'swap still recognised with its label')

    t.test('primary GPT header damaged: the backup is used', async t => {
      const bad = join(dir, 'bad1.img')
      copyFileSync(img, bad)
      flip(bad, 512 + 0x38)
      const p2 = await plan(bad)
      t.same(decisions(p2), { p1: 'ext4:trim', p2: 'swap:trim', p3: 'raw:skip' }, 'same decisions from the backup')
      t.match(p2.report.disks[0]!.notes.join(' '), /backup/, 'a note says the backup was used')
      t.same([...p2.freeRanges('d')], [...p.freeRanges('d')], 'same free ranges')
    })
    t.test('both GPT headers damaged: nothing trimmed', async t => {
      const bad = join(dir, 'bad2.img')
      copyFileSync(img, bad)
      flip(bad, 512 + 0x38)
      flip(bad, 80 * MiB - 512 + 0x38)
      const p2 = await plan(bad)
      t.same([...p2.freeRanges('d')], [], 'no free range')
      t.match(p2.report.disks[0]!.notes.join(' '), /no GPT copy verifies/, 'the report says why')
    })
  })

  t.test('MBR by hand: odd start sector, EBR chain', async t => {
    const dir = t.testdir()
    const img = join(dir, 'disk.img')
    writeGarbage(img, 64 * MiB)
    const entry = (sec: Buffer, i: number, type: number, lba: number, count: number): void => {
      const o = 0x1be + 16 * i
      sec[o] = 0
      sec[o + 4] = type
      sec.writeUInt32LE(lba, o + 8)
      sec.writeUInt32LE(count, o + 12)
    }
    const sector = (): Buffer => {
      const s = Buffer.alloc(512)
      s[510] = 0x55
      s[511] = 0xaa
      return s
    }
    const mbr = sector()
    entry(mbr, 0, 0x83, 2049, 40960) // p1: odd start, 20 MiB ext4 1 KiB blocks
    entry(mbr, 1, 0x05, 45056, 73728) // extended: 36 MiB
    patch(img, 0, mbr)
    const ebr1 = sector()
    entry(ebr1, 0, 0x82, 1, 32768) // p5 swap at 45057 (odd)
    entry(ebr1, 1, 0x05, 34816, 20480) // next EBR at 45056 + 34816
    patch(img, 45056 * 512, ebr1)
    const ebr2 = sector()
    entry(ebr2, 0, 0x83, 2048, 16384) // p6 raw garbage
    entry(ebr2, 1, 0x05, 34816, 20480) // loops back to itself: the chain must stop
    patch(img, (45056 + 34816) * 512, ebr2)
    const fs = join(dir, 'fs.img')
    const shas = buildExt(t, dir, fs, 20 * MiB, ['-t', 'ext4', '-b', '1024'])
    place(img, fs, 2049 * 512)
    const sw = join(dir, 'swap.img')
    writeGarbage(sw, 16 * MiB)
    t.equal(run('mkswap', [sw]).status, 0, 'mkswap')
    place(img, sw, 45057 * 512)
    const p = await plan(img)
    t.same(decisions(p), { p2: 'extended:container', p1: 'ext4:trim', p5: 'swap:trim', p6: 'raw:skip' }, 'decisions')
    t.match(p.report.disks[0]!.notes.join(' '), /loops/, 'the EBR loop is noted')
    const out = join(dir, 'out.img')
    await applyZeroer(p, 'd', img, out)
    t.equal(changedOutside(img, out, [...p.freeRanges('d')]), 0, 'nothing outside the free ranges changed (MBR, EBRs, gaps)')
    const vol = join(dir, 'p1.img')
    await extractVolume(out, [{ offset: 2049 * 512, length: 20 * MiB }], vol)
    t.equal(run('e2fsck', ['-fn', vol]).status, 0, 'p1: e2fsck -fn clean')
    for (const [path, sha] of Object.entries(shas)) t.equal(extFileSha(vol, path, dir), sha, `p1: ${path} unchanged`)
    t.equal(await p.guarded.recheck([await openFileDisk(out, 'd')]), undefined, 'guard recheck clean')
  })
}
