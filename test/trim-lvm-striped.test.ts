// LVM2 across two disks, written by hand in lvm2's on-disk format (lvm2's
// tools need device-mapper and block devices, absent here): a striped LV
// (2 stripes, 64 KiB) holding a real ext4, a thin pool with its hidden data
// LV, a raw linear LV. The striped LV must give exactly the free space and the
// zeroed bytes of the same ext4 trimmed as a plain image.
import t from 'tap'
import { join } from 'node:path'
import { openSync, readSync, writeSync, closeSync, readFileSync } from 'node:fs'
import { planTrim } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/file-disk.js'
import { lvmCrc } from '../src/trim/crc32.js'
import { applyZeroer, haveTool, writeGarbage } from './trim-helpers.js'
import { buildExt } from './trim-built-check.js'

const MiB = 1 << 20
const E = 4 * MiB
const PE_START = MiB
const CHUNK = 64 * 1024

const UUIDS = ['Aaaaaa1111bbbb2222cccc3333dddd44', 'Eeeeee5555ffff6666gggg7777hhhh88']
const dashed = (u: string): string => `${u.slice(0, 6)}-${u.slice(6, 10)}-${u.slice(10, 14)}-${u.slice(14, 18)}-${u.slice(18, 22)}-${u.slice(22, 26)}-${u.slice(26)}`

const METADATA = `vgs {
id = "vgvgvg-0000-0000-0000-0000-0000-vgvgvg"
seqno = 7
format = "lvm2"
status = ["RESIZEABLE", "READ", "WRITE"]
extent_size = ${E / 512}
physical_volumes {
pv0 { id = "${dashed(UUIDS[0]!)}" device = "/dev/sda" status = ["ALLOCATABLE"] dev_size = ${64 * 2048} pe_start = ${PE_START / 512} pe_count = 15 }
pv1 { id = "${dashed(UUIDS[1]!)}" device = "/dev/sdb" status = ["ALLOCATABLE"] dev_size = ${64 * 2048} pe_start = ${PE_START / 512} pe_count = 15 }
}
logical_volumes {
striped { id = "s" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
  segment1 { start_extent = 0 extent_count = 8 type = "striped" stripe_count = 2 stripe_size = ${CHUNK / 512} stripes = ["pv0", 1, "pv1", 0] } }
pool { id = "p" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
  segment1 { start_extent = 0 extent_count = 2 type = "thin-pool" metadata = "pool_tmeta" pool = "pool_tdata" } }
pool_tdata { id = "d" status = ["READ", "WRITE"] segment_count = 1
  segment1 { start_extent = 0 extent_count = 2 type = "striped" stripe_count = 1 stripes = ["pv0", 8] } }
pool_tmeta { id = "m" status = ["READ", "WRITE"] segment_count = 1
  segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv1", 8] } }
raw { id = "r" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
  segment1 { start_extent = 0 extent_count = 2 type = "striped" stripe_count = 1 stripes = ["pv1", 10] } }
}
}
`

/** PV label (sector 1), metadata area header at 4 KiB and the text right after it, as lvm2 writes them. */
function writePv(img: string, uuid: string): void {
  const head = Buffer.alloc(PE_START)
  const label = head.subarray(512, 1024)
  label.write('LABELONE', 0, 'latin1')
  label.writeBigUInt64LE(1n, 8)
  label.writeUInt32LE(32, 20)
  label.write('LVM2 001', 24, 'latin1')
  label.write(uuid, 32, 'latin1')
  label.writeBigUInt64LE(BigInt(64 * MiB), 64)
  label.writeBigUInt64LE(BigInt(PE_START), 72) // data area, then (0,0)
  label.writeBigUInt64LE(4096n, 104) // metadata area (offset, size), then (0,0)
  label.writeBigUInt64LE(BigInt(PE_START - 4096), 112)
  label.writeUInt32LE(lvmCrc(label.subarray(20, 512)), 16)
  const text = Buffer.from(METADATA + '\0', 'utf8')
  const mda = head.subarray(4096, 4096 + 512)
  mda.write(' LVM2 x[5A%r0N*>', 4, 'latin1')
  mda.writeUInt32LE(1, 20)
  mda.writeBigUInt64LE(4096n, 24)
  mda.writeBigUInt64LE(BigInt(PE_START - 4096), 32)
  mda.writeBigUInt64LE(512n, 40)
  mda.writeBigUInt64LE(BigInt(text.length), 48)
  mda.writeUInt32LE(lvmCrc(text), 56)
  mda.writeUInt32LE(lvmCrc(mda.subarray(4, 512)), 0)
  text.copy(head, 4096 + 512)
  const fd = openSync(img, 'r+')
  writeSync(fd, head, 0, head.length, 0)
  closeSync(fd)
}

/** Where byte x of the striped LV lives: chunk k goes to stripe k % 2, row k / 2 (lvm2's striped target). */
function stripeOf(x: number): { disk: number; off: number } {
  const k = Math.floor(x / CHUNK)
  const firstPe = [1, 0][k % 2]!
  return { disk: k % 2, off: PE_START + firstPe * E + Math.floor(k / 2) * CHUNK + (x % CHUNK) }
}

function scatter(fs: Buffer, disks: string[]): void {
  const fds = disks.map(d => openSync(d, 'r+'))
  for (let x = 0; x < fs.length; x += CHUNK) {
    const s = stripeOf(x)
    writeSync(fds[s.disk]!, fs, x, CHUNK, s.off)
  }
  fds.forEach(closeSync)
}

function gather(disks: string[], size: number): Buffer {
  const fds = disks.map(d => openSync(d, 'r'))
  const out = Buffer.alloc(size)
  for (let x = 0; x < size; x += CHUNK) {
    const s = stripeOf(x)
    readSync(fds[s.disk]!, out, x, CHUNK, s.off)
  }
  fds.forEach(closeSync)
  return out
}

if (!haveTool('mke2fs') || !haveTool('debugfs') || !haveTool('e2fsck')) t.plan(0, 'e2fsprogs missing')
else {
  t.test('striped LV over two disks', async t => {
    const dir = t.testdir()
    const fsImg = join(dir, 'fs.img')
    buildExt(t, dir, fsImg, 8 * E / 1, ['-t', 'ext4'])
    const disks = [join(dir, 'sda.img'), join(dir, 'sdb.img')]
    disks.forEach((d, i) => {
      writeGarbage(d, 64 * MiB)
      writePv(d, UUIDS[i]!)
    })
    scatter(readFileSync(fsImg), disks)

    const ref = await openFileDisk(fsImg, 'fs')
    const refPlan = await planTrim([ref], { journal: 'strict', lvmFree: false })
    await applyZeroer(refPlan, 'fs', fsImg, join(dir, 'fs.trimmed.img'))
    await ref.close()

    const handles = await Promise.all(disks.map((d, i) => openFileDisk(d, ['sda', 'sdb'][i]!)))
    const plan = await planTrim(handles, { journal: 'strict', lvmFree: false })
    const vols = Object.fromEntries(plan.report.disks.flatMap(d => d.volumes).map(v => [v.id, v]))
    t.equal(vols['disk']?.decision, 'container', 'whole-disk PV is a container')
    t.equal(vols['vgs/striped']?.decision, 'trim', `striped LV trimmed (${vols['vgs/striped']?.reason ?? ''})`)
    t.equal(vols['vgs/striped']?.freeBytes, refPlan.report.disks[0]!.volumes[0]!.freeBytes, 'same free bytes as the plain ext4')
    t.match(vols['vgs/pool']?.reason, /thin-pool/, 'thin pool skipped')
    t.match(vols['vgs/pool_tdata']?.reason, /hidden/, 'hidden pool data LV skipped')
    t.match(vols['vgs/raw']?.reason, /no recognised signature/, 'raw LV skipped')
    t.equal(vols['vgs/<free>']?.decision, 'untouched', 'unallocated extents untouched without lvmFree')
    const outs = disks.map(d => d.replace('.img', '.out.img'))
    for (let i = 0; i < 2; i++) await applyZeroer(plan, ['sda', 'sdb'][i]!, disks[i]!, outs[i]!)
    t.ok(gather(outs, 8 * E).equals(readFileSync(join(dir, 'fs.trimmed.img'))), 'the LV read back through the stripes equals the plainly trimmed ext4')
    for (let i = 0; i < 2; i++) {
      const a = Buffer.alloc(PE_START)
      const b = Buffer.alloc(PE_START)
      const fa = openSync(disks[i]!, 'r')
      const fb = openSync(outs[i]!, 'r')
      readSync(fa, a, 0, PE_START, 0)
      readSync(fb, b, 0, PE_START, 0)
      closeSync(fa)
      closeSync(fb)
      t.ok(a.equals(b), `disk ${i}: PV label and metadata area untouched`)
    }
    const outHandles = await Promise.all(outs.map((d, i) => openFileDisk(d, ['sda', 'sdb'][i]!)))
    t.equal(await plan.guarded.recheck(outHandles), undefined, 'guard recheck clean across both disks')

    const one = await planTrim([handles[0]!], { journal: 'strict', lvmFree: true })
    const v1 = Object.fromEntries(one.report.disks[0]!.volumes.map(v => [v.id, v]))
    t.match(v1['vgs/striped']?.reason, /not in this archive/, 'with only one disk the striped LV is skipped')
    t.equal(v1['vgs/<free>']?.decision, 'trim', 'lvmFree: the present PV\'s unallocated extents are trimmed')
    t.equal(v1['vgs/<free>']?.freeBytes, (15 - 4 - 2) * E, 'pv0: 15 extents minus 4 striped and 2 pool data')
    await Promise.all([...handles, ...outHandles].map(h => h.close()))
  })
}
