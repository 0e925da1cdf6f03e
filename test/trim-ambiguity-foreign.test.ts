// Filesystems and block layers vma-opt does not read still count as readings
// (src/trim/foreign-probes.ts): a disk formatted with one of them over an old
// ext4 may keep the ext4 superblock where the new format leaves its boot area
// alone, and reading that stale ext4 would zero the live filesystem. Real
// images where Debian has the mkfs (JFS, ReiserFS: the old ext4 superblock put
// back into their unused boot area, their own fsck still clean; F2FS and
// nilfs2, whose superblock replaces ext4's, are recognised alone), and a
// synthetic magic at the documented offset on a real ext4 for the others.

import t, { type Test } from 'tap'
import { closeSync, openSync, readSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { TrimPlan } from '../src/trim/plan.js'
import { planImage as planOf, run } from './trim-helpers.js'
import { needTools } from './tools.js'

const MiB = 1 << 20

function readAt(img: string, off: number, n: number): Buffer {
  const b = Buffer.alloc(n)
  const fd = openSync(img, 'r')
  readSync(fd, b, 0, n, off)
  closeSync(fd)
  return b
}

function writeAt(img: string, off: number, b: Buffer): void {
  const fd = openSync(img, 'r+')
  writeSync(fd, b, 0, b.length, off)
  closeSync(fd)
}

function mustRun(cmd: string, args: string[]): void {
  const r = run(cmd, args)
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.out}`)
}

/** An image of `mib` MiB holding a real ext4 over its first `extMib` MiB. */
function ext4Image(dir: string, mib: number, extMib = mib): string {
  const img = join(dir, 'disk.img')
  mustRun('truncate', ['-s', `${mib}M`, img])
  mustRun('mkfs.ext4', ['-q', '-F', '-b', '4096', img, `${extMib * 256}`])
  return img
}

/** The whole disk's report entry, which must be a skip that touches nothing. */
function untouched(t: Test, p: TrimPlan, reason: RegExp): void {
  const v = p.report.disks[0]?.volumes.find(x => x.id === 'disk')
  t.equal(v?.decision, 'skip', `the volume is left untouched (${v?.reason ?? JSON.stringify(p.report.disks[0]?.volumes)})`)
  t.match(v?.reason, reason, 'and the report says why')
  t.same([...p.freeRanges('d')], [], 'nothing declared free')
}

for (const [fs, mkfs, fsck, sig] of [
  ['JFS', ['mkfs.jfs', '-q'], ['fsck.jfs', '-n'], 'JFS superblock at 32768'],
  ['ReiserFS', ['mkfs.reiserfs', '-q', '-f'], ['reiserfsck', '--check', '-q', '-y'], 'ReiserFS superblock at 65536'],
] as const) {
  t.test(`${fs} made over an old ext4 whose superblock stays in ${fs}'s boot area: two readings, untouched`, { skip: needTools('mkfs.ext4', mkfs[0], fsck[0]) }, async t => {
    const dir = t.testdir()
    const img = ext4Image(dir, 64)
    const stale = readAt(img, 1024, 1024)
    mustRun(mkfs[0], [...mkfs.slice(1), img])
    // The boot area (JFS: the first 32 KiB, ReiserFS: 64 KiB) is not the new filesystem's: a mkfs that does not wipe it leaves ext4's superblock there.
    writeAt(img, 1024, stale)
    const check = run(fsck[0], [...fsck.slice(1), img])
    t.equal(check.status, 0, `${fsck[0]} finds the ${fs} whole with the old superblock in its boot area`)
    t.match(run('blkid', ['-p', '-o', 'udev', img]).out, /ID_FS_AMBIVALENT=.*filesystem:ext4/, 'blkid finds two filesystems too')
    untouched(t, await planOf(img), new RegExp(`ext superblock at 1024 and ${sig}: ambiguous, skipped`))
  })
}

for (const [fs, mkfs, reason, mib] of [
  ['F2FS', ['mkfs.f2fs', '-f', '-q'], /^F2FS: not trimmed/, 128],
  ['nilfs2', ['mkfs.nilfs2', '-f', '-q'], /^nilfs2: not trimmed/, 160],
] as const) {
  t.test(`${fs} made over an old ext4 is recognised, and not trimmed`, { skip: needTools('mkfs.ext4', mkfs[0]) }, async t => {
    const dir = t.testdir()
    const img = ext4Image(dir, mib)
    mustRun(mkfs[0], [...mkfs.slice(1), img])
    const p = await planOf(img)
    untouched(t, p, reason)
    t.equal(p.report.disks[0]?.volumes.find(x => x.id === 'disk')?.kind, fs.toLowerCase(), `reported as ${fs}`)
  })
}

/** Bytes to write at an offset (a negative offset counts from the end of the 64 MiB image). */
type Plant = [number, Buffer]
const be32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0)
  return b
}
const le32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n >>> 0)
  return b
}
const bin = (s: string) => Buffer.from(s, 'latin1')
const SYNTHETIC: [string, Plant[], RegExp][] = [
  ['ReFS', [[0, bin('\0\0\0ReFS\0')]], /ext superblock at 1024 and ReFS boot sector: ambiguous/],
  ['UFS2', [[(64 << 10) + 1372, le32(0x19540119)]], /ext superblock at 1024 and UFS2 superblock at 65536: ambiguous/],
  ['UFS1 (big-endian)', [[(8 << 10) + 1372, be32(0x00011954)]], /ext superblock at 1024 and UFS superblock at 8192: ambiguous/],
  ['bcachefs', [[4096 + 24, Buffer.from('c68573f666ce90a9d96a60cf803df7ef', 'hex')]], /ext superblock at 1024 and bcachefs superblock at 4096: ambiguous/],
  ['APFS', [[32, bin('NXSB')]], /ext superblock at 1024 and APFS container superblock at 0: ambiguous/],
  ['a LUKS2 second header', [[0x8000, bin('SKUL\xba\xbe')]], /LUKS container \(encrypted\): never trimmed \(LUKS2 second header at 32768\)/],
  ['ZFS label 1', [[(256 << 10) + (128 << 10) + 2048, Buffer.from('0cb1ba0000000000', 'hex')]], /ZFS: never trimmed \(ZFS uberblock at 395264\)/],
  ['ZFS label 3', [[-(256 << 10) + (128 << 10), Buffer.from('0cb1ba0000000000', 'hex')]], /ZFS: never trimmed \(ZFS uberblock at 66977792\)/],
  ['VDO', [[0, bin('dmvdo001')]], /VDO volume \(deduplicated, compressed\): never trimmed \(VDO geometry block at 0\)/],
  [
    'DRBD metadata',
    [
      [-4096 + 60, be32(0x8374026b)],
      [-4096 + 80, be32(4096)],
    ],
    /DRBD device \(replicated\): never trimmed \(DRBD metadata at 67104768\)/,
  ],
]

t.test('synthetic magics of unread formats at their documented offsets, over a real ext4', { skip: needTools('mkfs.ext4') }, async t => {
  const dir = t.testdir()
  const img = ext4Image(dir, 64, 60)
  const clean = await planOf(img)
  t.equal(clean.report.disks[0]?.volumes.find(x => x.id === 'disk')?.decision, 'trim', 'the plain ext4 trims (the probes find nothing on it)')
  for (const [name, plants, reason] of SYNTHETIC) {
    const saved = plants.map(([off, b]): Plant => [off < 0 ? 64 * MiB + off : off, readAt(img, off < 0 ? 64 * MiB + off : off, b.length)])
    for (const [off, b] of plants) writeAt(img, off < 0 ? 64 * MiB + off : off, b)
    const p = await planOf(img)
    const v = p.report.disks[0]?.volumes.find(x => x.id === 'disk')
    t.equal(v?.decision, 'skip', `${name}: untouched (${v?.reason})`)
    t.match(v?.reason, reason, `${name}: the reason names it`)
    t.same([...p.freeRanges('d')], [], `${name}: nothing declared free`)
    for (const [off, b] of saved) writeAt(img, off, b)
  }
  t.equal((await planOf(img)).report.disks[0]?.volumes.find(x => x.id === 'disk')?.decision, 'trim', 'with the magics gone, it trims again')
})

t.test('HFS+ and HFSX volume headers are recognised; a look-alike with a bad block size is not', async t => {
  const dir = t.testdir()
  const img = join(dir, 'hfs.img')
  mustRun('truncate', ['-s', '8M', img])
  const head = Buffer.alloc(64)
  for (const [m, version, block, want] of [
    ['H+', 4, 4096, /^HFS\+: not trimmed/],
    ['HX', 5, 8192, /^HFS\+: not trimmed/],
    ['H+', 4, 3000, /no recognised signature/],
  ] as const) {
    head.write(m, 0, 'latin1')
    head.writeUInt16BE(version, 2)
    head.writeUInt32BE(block, 40)
    writeAt(img, 1024, head)
    const v = (await planOf(img)).report.disks[0]?.volumes.find(x => x.id === 'disk')
    t.match(v?.reason, want, `${m} version ${version}, blocks of ${block}: ${v?.reason}`)
  }
})
