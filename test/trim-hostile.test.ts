// Hostile and damaged inputs: corrupted superblocks, descriptors, journal,
// GPT headers, LVM text, random byte flips. Each must give a skip with a
// reason (or an unchanged decision), never an exception or a huge allocation.
import t from 'tap'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { planTrim, type TrimPlan } from '../src/trim/plan.js'
import type { TrimDisk } from '../src/trim/disk/disk.js'
import { crc32cRaw } from '../src/trim/bytes/crc32c.js'
import { crc32Ieee } from '../src/trim/bytes/crc32.js'
import { parseLvmText } from '../src/trim/lvm/lvm-text.js'
import { TrimSkip } from '../src/trim/skip.js'
import { haveTool, run, writeGarbage } from './trim-helpers.js'

const MiB = 1 << 20
const memDisk = (buf: Buffer, name = 'd'): TrimDisk => ({
  name,
  size: buf.length,
  read: async (b, off) => {
    if (off < 0 || off + b.length > buf.length) throw new RangeError('outside')
    buf.copy(b, 0, off, off + b.length)
  },
})
const plan = (buf: Buffer): Promise<TrimPlan> => planTrim([memDisk(buf)], { journal: 'strict', lvmFree: false })
const only = (p: TrimPlan) => p.report.disks[0]!.volumes[0]!

/** Rewrites the superblock checksum (metadata_csum) so that deeper checks are reached. */
function fixSbCsum(img: Buffer): void {
  img.writeUInt32LE(crc32cRaw(0xffffffff, img, 1024, 1024 + 0x3fc), 1024 + 0x3fc)
}

t.test('LVM text parser: hostile text is a TrimSkip, nothing else', async t => {
  for (const text of ['a {', 'a = [1, 2', '}', 'a = ', `${'x { '.repeat(100)}`, 'a = 99999999999999999999', 'a = "\\', 'a @ b']) {
    t.throws(() => parseLvmText(text), TrimSkip, JSON.stringify(text.slice(0, 20)))
  }
  t.same(parseLvmText('vg { seqno = 3 # c\n pvs = ["a", 1] }'), { vg: { seqno: 3, pvs: ['a', 1] } }, 'a normal text parses')
})

if (!haveTool('mke2fs')) t.test('corrupted ext images', { skip: 'mke2fs missing (Debian package e2fsprogs)' }, async () => {})
else {
  const dir = t.testdir()
  const build = (name: string, args: string[]): Buffer => {
    const img = join(dir, name)
    writeGarbage(img, 16 * MiB)
    const r = run('mke2fs', ['-q', '-F', '-E', 'nodiscard', ...args, img])
    if (r.status !== 0) throw new Error(r.out)
    return readFileSync(img)
  }
  const ext4 = build('ext4.img', ['-t', 'ext4', '-b', '1024'])
  const ext2 = build('ext2.img', ['-t', 'ext2', '-b', '1024'])

  t.test('the untouched images are trimmed', async t => {
    t.equal(only(await plan(ext4)).decision, 'trim')
    t.equal(only(await plan(ext2)).decision, 'trim')
  })

  const sbCases: [string, Buffer, (b: Buffer) => void, RegExp][] = [
    ['block size exponent 30', ext4, b => b.writeUInt32LE(30, 1024 + 0x18), /block size/],
    ['blocks count past the disk', ext4, b => b.writeUInt32LE(0xfffffff0, 1024 + 0x04), /larger than its container/],
    ['blocks per group 0', ext4, b => b.writeUInt32LE(0, 1024 + 0x20), /per group/],
    ['descriptor size 3', ext4, b => b.writeUInt16LE(3, 1024 + 0xfe), /descriptor size/],
    ['inodes per group huge', ext4, b => b.writeUInt32LE(0x7fffffff, 1024 + 0x28), /inodes per group/],
    [
      'first meta_bg huge with meta_bg',
      ext4,
      b => {
        b.writeUInt32LE(b.readUInt32LE(1024 + 0x60) | 0x10, 1024 + 0x60)
        b.writeUInt32LE(0xffffffff, 1024 + 0x104)
      },
      /./,
    ],
    [
      'cluster size with bigalloc garbage',
      ext4,
      b => {
        b.writeUInt32LE(b.readUInt32LE(1024 + 0x64) | 0x200, 1024 + 0x64)
        b.writeUInt32LE(40, 1024 + 0x1c)
      },
      /cluster|first_data_block|per group/,
    ],
  ]
  for (const [name, base, mutate, why] of sbCases) {
    t.test(`superblock: ${name}`, async t => {
      const img = Buffer.from(base)
      mutate(img)
      fixSbCsum(img)
      const v = only(await plan(img))
      t.equal(v.decision, 'skip', `skipped: ${v.reason}`)
      t.match(v.reason, why)
    })
  }
  t.test('superblock checksum wrong', async t => {
    const img = Buffer.from(ext4)
    img[1024 + 0x78]! ^= 1
    t.match(only(await plan(img)).reason, /superblock checksum/)
  })
  t.test('descriptor changed without its checksum', async t => {
    const img = Buffer.from(ext4)
    img[2048 + 0x0c]! ^= 1 // group 0 free count, GDT at block 2
    t.match(only(await plan(img)).reason, /descriptor checksum/)
  })
  t.test('ext2 descriptor: block bitmap pointer past the end', async t => {
    const img = Buffer.from(ext2)
    img.writeUInt32LE(0xfffffff0, 2048)
    const v = only(await plan(img))
    t.equal(v.decision, 'skip', `skipped: ${v.reason}`)
  })
  t.test('ext2 descriptor: inode table moved onto free blocks', async t => {
    const img = Buffer.from(ext2)
    img.writeUInt32LE(img.readUInt32LE(2048 + 8) + 3000, 2048 + 8)
    const v = only(await plan(img))
    t.equal(v.decision, 'skip', `skipped: ${v.reason}`)
  })
  t.test('ext2 bitmap: a metadata block marked free', async t => {
    const img = Buffer.from(ext2)
    const bb = img.readUInt32LE(2048)
    img[bb * 1024]! &= 0xfe // block 1 = superblock
    img.writeUInt16LE(img.readUInt16LE(2048 + 0x0c) + 1, 2048 + 0x0c) // keep the free count consistent
    t.match(only(await plan(img)).reason, /marked free/)
  })
  t.test('random byte flips in the metadata never throw', async t => {
    let seed = 12345
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    let skipped = 0
    for (let i = 0; i < 60; i++) {
      const img = Buffer.from(i % 2 ? ext2 : ext4)
      for (let k = 0; k < 4; k++) img[rnd(64 * 1024)]! ^= 1 << rnd(8)
      const p = await plan(img)
      if (only(p).decision === 'skip') skipped++
      for (const [o, n] of p.freeRanges('d')) if (o < 0 || o + n > img.length) t.fail('free range outside the disk')
    }
    t.pass(`60 damaged images planned without an exception (${skipped} skipped)`)
  })
}

t.test('GPT: hostile entry geometry, backup missing', async t => {
  const img = Buffer.alloc(4 * MiB, 0x41)
  img.fill(0, 0, 34 * 512)
  img[510] = 0x55
  img[511] = 0xaa
  img[0x1be + 4] = 0xee
  img.writeUInt32LE(1, 0x1be + 8)
  const h = img.subarray(512, 1024)
  h.write('EFI PART', 0, 'latin1')
  h.writeUInt32LE(0x10000, 8)
  h.writeUInt32LE(92, 12)
  h.writeBigUInt64LE(1n, 0x18)
  h.writeBigUInt64LE(BigInt(img.length / 512 - 1), 0x20)
  h.writeBigUInt64LE(34n, 0x28)
  h.writeBigUInt64LE(BigInt(img.length / 512 - 34), 0x30)
  h.writeBigUInt64LE(2n, 0x48)
  h.writeUInt32LE(0xffffffff, 0x50) // entries
  h.writeUInt32LE(128, 0x54)
  h.writeUInt32LE(crc32Ieee(Buffer.alloc(0)), 0x58)
  h.writeUInt32LE(0, 0x10)
  h.writeUInt32LE(crc32Ieee(h.subarray(0, 92)), 0x10)
  const p = await plan(img)
  t.same([...p.freeRanges('d')], [], 'nothing declared free')
  t.match(p.report.disks[0]!.notes.join(' '), /geometry invalid/, 'the entry geometry is refused')
})

t.test('disk smaller than a sector, empty disk', async t => {
  for (const size of [0, 100, 511, 512, 4096]) {
    const p = await plan(Buffer.alloc(size, 0x33))
    t.same([...p.freeRanges('d')], [], `size ${size}: nothing free`)
  }
})
