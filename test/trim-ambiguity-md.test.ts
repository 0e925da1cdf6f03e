// md RAID members are never read as plain disks. There is no md driver here,
// so the members are built by code (test/fixtures/md-superblock.ts, from the
// kernel's documented format) around array contents made with the real tools
// (sfdisk/sgdisk, mke2fs), and each superblock is checked with mdadm --examine.
import t, { type Test } from 'tap'
import { readAt, writeAt } from './fixtures/ntfs-image.js'
import { join } from 'node:path'
import { mkdirSync, writeFileSync } from 'node:fs'
import { planTrim, type TrimPlan } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { applyZeroer, extFileSha, extractVolume, haveTool, run, writeGarbage } from './trim-helpers.js'
import { MiB, mustRun, place, sfdiskOnePartition } from './fixtures/stale-disks.js'
import { writeMd1, writeMd090, md10Offset, type MdArray } from './fixtures/md-superblock.js'
import { content } from './trim-built-check.js'
import { createHash } from 'node:crypto'

const missing = ['mke2fs', 'e2fsck', 'debugfs', 'sfdisk', 'sgdisk', 'mdadm'].filter(x => !haveTool(x))
const MEMBER = 32 * MiB

async function planOf(imgs: string[]): Promise<TrimPlan> {
  const ds = await Promise.all(imgs.map((p, i) => openFileDisk(p, `m${i}`)))
  const p = await planTrim(ds, { journal: 'strict', lvmFree: false })
  await Promise.all(ds.map(d => d.close()))
  return p
}

/** An ext4 of `size` whose deleted first file leaves free blocks just before a live one (what a misread stripe turns into damage). */
function buildExtWithHole(t: Test, dir: string, img: string, size: number, extra: string[] = []): Record<string, string> {
  const src = join(dir, 'src')
  mkdirSync(src, { recursive: true })
  const shas: Record<string, string> = {}
  for (const [name, n] of [
    ['a.bin', 3 * MiB],
    ['b.bin', 8 * MiB],
    ['c.bin', 2 * MiB],
  ] as const) {
    const data = content(name, n)
    writeFileSync(join(src, name), data)
    if (name !== 'a.bin') shas[`/${name}`] = createHash('sha256').update(data).digest('hex')
  }
  writeGarbage(img, size)
  mustRun('mke2fs', ['-q', '-F', '-E', 'nodiscard', '-t', 'ext4', ...extra, '-d', src, img])
  mustRun('debugfs', ['-w', '-R', 'rm /a.bin', img])
  t.equal(run('e2fsck', ['-fn', img]).status, 0, "the array's ext4 is clean")
  return shas
}

function examine(t: Test, img: string, want: RegExp): void {
  const r = run('mdadm', ['--examine', img])
  t.match(
    r.out,
    want,
    `mdadm --examine accepts the member: ${r.out
      .split('\n')
      .filter(l => /Version|Raid Level|Checksum/.test(l))
      .join(';')}`,
  )
}

async function zeroAll(plan: TrimPlan, imgs: string[]): Promise<string[]> {
  const outs = imgs.map(i => i.replace(/\.img$/, '.out.img'))
  for (let i = 0; i < imgs.length; i++) await applyZeroer(plan, `m${i}`, imgs[i]!, outs[i]!)
  return outs
}

if (missing.length) t.plan(0, `missing tools: ${missing.join(', ')} (Debian packages e2fsprogs, fdisk, gdisk, mdadm)`)
else {
  t.test("RAID0, metadata 1.0, MBR-partitioned array: member 0 starts with the array's MBR", async t => {
    const dir = t.testdir()
    const chunk = 4 * MiB
    const perMember = Math.floor(md10Offset(MEMBER) / chunk) * chunk
    const array = join(dir, 'array.img')
    writeGarbage(array, 2 * perMember)
    sfdiskOnePartition(array, 20)
    const fs = join(dir, 'p1.img')
    // no journal: the misread member's view of it would be invalid and hide the damage the old reading did
    const shas = buildExtWithHole(t, dir, fs, 20 * MiB, ['-O', '^has_journal'])
    place(array, fs, MiB)
    const a: MdArray = { level: 0, raidDisks: 2, chunk, dataSectors: perMember / 512, uuid: Buffer.alloc(16, 0x5a) }
    const members = [0, 1].map(i => join(dir, `m${i}.img`))
    members.forEach((m, i) => {
      writeGarbage(m, MEMBER)
      for (let k = i; k * chunk < 2 * perMember; k += 2) writeAt(m, Math.floor(k / 2) * chunk, readAt(array, k * chunk, chunk))
      writeMd1(m, md10Offset(MEMBER), i, a, 0)
      examine(t, m, /Version : 1\.0[\s\S]*Raid Level : raid0/)
    })
    t.ok(readAt(members[0]!, 510, 2).equals(Buffer.from([0x55, 0xaa])), "member 0 begins with the array's MBR")
    const p = await planOf(members)
    for (const d of p.report.disks) {
      const v = d.volumes.find(x => x.id === 'disk')
      t.equal(v?.kind, 'md-raid', `${d.name}: reported as an md member (${JSON.stringify(d.volumes.map(x => [x.id, x.kind, x.decision, x.reason]))})`)
      t.match(v?.reason, /md superblock 1\.0 at \d+/, `${d.name}: the reason names the superblock: ${v?.reason}`)
      t.same([...p.freeRanges(d.name)], [], `${d.name}: nothing declared free`)
    }
    const outs = await zeroAll(p, members)
    const back = join(dir, 'array.out.img')
    writeGarbage(back, 2 * perMember)
    for (let k = 0; k * chunk < 2 * perMember; k++) writeAt(back, k * chunk, readAt(outs[k % 2]!, Math.floor(k / 2) * chunk, chunk))
    const vol = join(dir, 'p1.out.img')
    await extractVolume(back, [{ offset: MiB, length: 20 * MiB }], vol)
    t.equal(run('e2fsck', ['-fn', vol]).status, 0, 'the array reassembled from the zeroed members: p1 e2fsck clean')
    for (const [path, sha] of Object.entries(shas)) t.equal(extFileSha(vol, path, dir), sha, `${path} intact`)
  })

  for (const meta of ['1.0', '0.90'] as const) {
    t.test(`RAID1 whole-disk member, metadata ${meta}, GPT-partitioned array`, async t => {
      const dir = t.testdir()
      const size = meta === '1.0' ? md10Offset(MEMBER) : MEMBER - 128 * 512
      const array = join(dir, 'array.img')
      writeGarbage(array, size)
      mustRun('sgdisk', ['-g', '-n', '1:2048:+20M', '-t', '1:8300', array])
      const fs = join(dir, 'p1.img')
      buildExtWithHole(t, dir, fs, 20 * MiB)
      place(array, fs, MiB)
      const a: MdArray = { level: 1, raidDisks: 2, chunk: 0, dataSectors: size / 512, uuid: Buffer.alloc(16, 0x3c) }
      const m = join(dir, 'm0.img')
      writeGarbage(m, MEMBER)
      place(m, array, 0)
      if (meta === '1.0') writeMd1(m, md10Offset(MEMBER), 0, a, 0)
      else writeMd090(m, 0, a)
      examine(t, m, meta === '1.0' ? /Version : 1\.0[\s\S]*Raid Level : raid1/ : /Version : 0\.90[\s\S]*Raid Level : raid1/)
      const p = await planOf([m])
      const v = p.report.disks[0]!.volumes.find(x => x.id === 'disk')
      t.match(v?.reason, new RegExp(`md superblock ${meta.replace('.', '\\.')} at \\d+: an md RAID member is never read as a plain disk \\(also a GPT\\)`), `skipped: ${v?.reason}`)
      t.same([...p.freeRanges('m0')], [], 'nothing declared free')
    })
  }

  t.test('RAID1 member, metadata 1.2 (superblock at 4 KiB, data from 1 MiB)', async t => {
    const dir = t.testdir()
    const m = join(dir, 'm0.img')
    writeGarbage(m, MEMBER)
    const fs = join(dir, 'fs.img')
    buildExtWithHole(t, dir, fs, MEMBER - MiB)
    place(m, fs, MiB)
    writeMd1(m, 4096, 0, { level: 1, raidDisks: 2, chunk: 0, dataSectors: (MEMBER - MiB) / 512, uuid: Buffer.alloc(16, 0x12) }, 2048)
    examine(t, m, /Version : 1\.2[\s\S]*Raid Level : raid1/)
    const p = await planOf([m])
    t.match(p.report.disks[0]!.volumes.find(x => x.id === 'disk')?.reason, /md RAID member: never trimmed \(md superblock 1\.2 at 4096\)/, 'skipped')
    t.same([...p.freeRanges('m0')], [], 'nothing declared free')
  })

  t.test('an md 0.90 member in the last partition belongs to that partition: the other partition still trims', async t => {
    const dir = t.testdir()
    const img = join(dir, 'disk.img')
    writeGarbage(img, 64 * MiB)
    // p1 ext4 1-21 MiB; p2 (type 0x83, not 0xFD: the superblock alone must make it an md member) 24 MiB to the end
    const r = run('sh', ['-c', `printf 'start=2048, size=40960, type=83\\nstart=49152, type=83\\n' | sfdisk -q '${img}'`])
    t.equal(r.status, 0, `sfdisk ${r.out}`)
    const fs = join(dir, 'p1.img')
    const shas = buildExtWithHole(t, dir, fs, 20 * MiB)
    place(img, fs, MiB)
    const part = join(dir, 'p2.img')
    writeGarbage(part, 40 * MiB)
    writeMd090(part, 0, { level: 1, raidDisks: 2, chunk: 0, dataSectors: (40 * MiB - 65536) / 512, uuid: Buffer.alloc(16, 0x77) })
    examine(t, part, /Version : 0\.90/)
    place(img, part, 24 * MiB)
    const p = await planOf([img])
    const vols = Object.fromEntries(p.report.disks[0]!.volumes.map(v => [v.id, v]))
    t.equal(vols.p1?.decision, 'trim', `p1 trimmed (${JSON.stringify(p.report.disks[0]!.volumes.map(x => [x.id, x.reason]))})`)
    t.equal(vols.p2?.kind, 'md-raid', 'p2 is the md member')
    t.equal(vols.p2?.decision, 'skip', 'and is skipped')
    const [out] = await zeroAll(p, [img])
    const vol = join(dir, 'p1.out.img')
    await extractVolume(out!, [{ offset: MiB, length: 20 * MiB }], vol)
    t.equal(run('e2fsck', ['-fn', vol]).status, 0, 'p1 e2fsck clean')
    for (const [path, sha] of Object.entries(shas)) t.equal(extFileSha(vol, path, dir), sha, `${path} intact`)
  })
}
