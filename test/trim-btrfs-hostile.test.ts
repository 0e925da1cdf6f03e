// Hostile and unsupported btrfs volumes: each is a real image built with
// mkfs.btrfs and damaged in exactly one way (checksums written back unless
// the damage is the checksum), or a real state (a log tree left by fsync, a
// second device). The planner must skip the volume with a reason naming the
// problem, declare nothing free, and neither crash nor hang.

import t from 'tap'
import { copyFileSync, openSync, closeSync, fsyncSync, writeSync, truncateSync } from 'node:fs'
import { join } from 'node:path'
import { planTrim } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { btrfsMissing, buildBtrfs, randomBytes, sh, withMount, writeGarbage } from './fixtures/btrfs-image.js'
import { superField } from './fixtures/btrfs-dump.js'
import { HEADER, KEY_PTR, itemData, patchSuper, patchTreeBlock, treeBlocks } from './fixtures/btrfs-patch.js'

type Opts = { journal: 'strict' | 'union'; lvmFree: boolean }
const STRICT: Opts = { journal: 'strict', lvmFree: false }

async function verdict(path: string, opts: Opts = STRICT) {
  const disk = await openFileDisk(path, 'd')
  try {
    const plan = await planTrim([disk], opts)
    return { v: plan.report.disks[0]!.volumes[0]!, free: [...plan.freeRanges('d')] }
  } finally {
    await disk.close()
  }
}

const missing = btrfsMissing()
if (missing) t.plan(0, missing)
else {
  t.test('damaged metadata', async t => {
    const dir = t.testdir()
    const base = join(dir, 'base.img')
    // metadata single: one copy of each tree block; 4 KiB nodes and many files: a two-level extent tree
    buildBtrfs(base, { sizeMiB: 160, mkfs: ['-m', 'single', '-n', '4096'], smallFiles: 800, deleteMiB: 8 })
    const ok = await verdict(base)
    t.equal(ok.v.decision, 'trim', 'the undamaged image is trimmed')
    const extent = treeBlocks(base, 'extent')
    const root = extent[0]!
    t.ok(root.kind === 'node' && root.level >= 1, `the extent tree has a root node of level ${root.level}`)
    const leaves = extent.filter(b => b.kind === 'leaf')
    const bytesUsed = superField(base, 'bytes_used')

    const cases: { name: string; reason: RegExp; damage: (img: string) => void }[] = [
      {
        name: 'a tree block fails its checksum',
        reason: /tree block at logical \d+: crc32c checksum mismatch/,
        damage: img =>
          patchTreeBlock(
            img,
            leaves[1]!.logical,
            b => {
              b[HEADER + 3]! ^= 0xff
            },
            true,
          ),
      },
      {
        name: 'a cycle: a node points at itself',
        reason: /extent tree block at logical \d+: level \d+, its parent expects \d+/,
        damage: img =>
          patchTreeBlock(img, root.logical, b => {
            b.writeBigUInt64LE(BigInt(root.logical), HEADER + KEY_PTR + 17)
            b.writeBigUInt64LE(b.readBigUInt64LE(0x50), HEADER + KEY_PTR + 25)
          }),
      },
      {
        name: 'a cycle: a node points at an earlier leaf again',
        reason: /first key .* is not its parent's|not after the previous leaf/,
        damage: img =>
          patchTreeBlock(img, root.logical, b => {
            b.copy(b, HEADER + KEY_PTR + 17, HEADER + 17, HEADER + 33) // pointer 1 := pointer 0's block and generation
          }),
      },
      {
        name: 'a generation mismatch between a node and its child',
        reason: /generation \d+, its parent expects \d+/,
        damage: img =>
          patchTreeBlock(img, root.logical, b => {
            b.writeBigUInt64LE(b.readBigUInt64LE(HEADER + 25) - 1n, HEADER + 25)
          }),
      },
      {
        name: 'a tree block outside the metadata chunks',
        reason: /extent tree block at logical \d+ (lies in a data chunk|is in no chunk)/,
        damage: img =>
          patchTreeBlock(img, root.logical, b => {
            const data = treeBlocks(img, 'chunk')
              .map(c => /key \(FIRST_CHUNK_TREE CHUNK_ITEM (\d+)\)[^\n]*\n\s+length \d+ owner \d+ stripe_len \d+ type DATA\|single/.exec(c.text))
              .find(Boolean)!
            b.writeBigUInt64LE(BigInt(data[1]!), HEADER + 17)
          }),
      },
      {
        name: 'a chunk mapped past the end of the device',
        reason: /chunk at logical \d+: stripe 0 maps to device bytes \d+\.\.\d+, past the device's \d+ bytes/,
        damage: img => {
          const leaf = treeBlocks(img, 'chunk').find(b => /type DATA\|single/.test(b.text))!
          const m = /key \(FIRST_CHUNK_TREE CHUNK_ITEM (\d+)\)[^\n]*\n\s+length \d+ owner \d+ stripe_len \d+ type DATA\|single/.exec(leaf.text)!
          const at = itemData(leaf, `FIRST_CHUNK_TREE CHUNK_ITEM ${m[1]}`)
          const total = superField(img, 'total_bytes')
          patchTreeBlock(img, leaf.logical, b => b.writeBigUInt64LE(BigInt(total - 4096), at + 0x30 + 8))
        },
      },
      {
        name: "a block group's used counter does not match its extents",
        reason: /data block group at \d+: extent items cover \d+ bytes, its used counter says \d+/,
        damage: img => {
          const leaf = leaves.find(b => /BLOCK_GROUP_ITEM \d+\)[^\n]*\n\s+block group used \d+ chunk_objectid 256 flags DATA\|single/.test(b.text))!
          const m = /key \((\d+) BLOCK_GROUP_ITEM (\d+)\)[^\n]*\n\s+block group used \d+ chunk_objectid 256 flags DATA\|single/.exec(leaf.text)!
          const at = itemData(leaf, `${m[1]} BLOCK_GROUP_ITEM ${m[2]}`)
          patchTreeBlock(img, leaf.logical, b => b.writeBigUInt64LE(b.readBigUInt64LE(at) + 4096n, at))
          patchSuper(img, s => s.writeBigUInt64LE(BigInt(bytesUsed + 4096), 0x78))
        },
      },
      {
        name: "the superblock's bytes_used does not match the block groups",
        reason: /block groups use \d+ bytes, the superblock says \d+/,
        damage: img => patchSuper(img, s => s.writeBigUInt64LE(BigInt(bytesUsed - 4096), 0x78)),
      },
      {
        name: 'an unknown incompat flag',
        reason: /unknown incompat flag 0x100000/,
        damage: img => patchSuper(img, s => s.writeBigUInt64LE(s.readBigUInt64LE(0xbc) | (1n << 20n), 0xbc)),
      },
      {
        name: 'a superblock checksum failure',
        reason: /superblock crc32c checksum mismatch/,
        damage: img => {
          const fd = openSync(img, 'r+')
          writeSync(fd, Buffer.from('X'), 0, 1, 0x10000 + 0x12b) // the label's first byte, checksum left as it was
          closeSync(fd)
        },
      },
      {
        name: 'a seeding filesystem',
        reason: /seeding/,
        damage: img => patchSuper(img, s => s.writeBigUInt64LE(s.readBigUInt64LE(0x38) | (1n << 32n), 0x38)),
      },
      {
        name: 'two devices announced',
        reason: /multi-device filesystem \(2 devices/,
        damage: img => patchSuper(img, s => s.writeBigUInt64LE(2n, 0x88)),
      },
      {
        name: 'a filesystem larger than its container',
        reason: /filesystem \(\d+ bytes\) larger than its container/,
        damage: img => truncateSync(img, superField(img, 'total_bytes') - (1 << 20)),
      },
      {
        name: 'an unknown checksum type',
        reason: /unknown btrfs checksum type 4/,
        damage: img => patchSuper(img, s => s.writeUInt16LE(4, 0xc4)),
      },
    ]
    for (const c of cases) {
      await t.test(c.name, async t => {
        const img = join(dir, 'hostile.img')
        copyFileSync(base, img)
        c.damage(img)
        const { v, free } = await verdict(img)
        t.equal(v.kind, 'btrfs')
        t.equal(v.decision, 'skip', `skipped: ${v.reason}`)
        t.match(v.reason, c.reason, 'the reason names the problem')
        t.same(free, [], 'nothing declared free')
      })
    }
  })

  t.test('a log tree awaiting replay (fsync before the copy)', async t => {
    const dir = t.testdir()
    const img = join(dir, 'live.img')
    const copy = join(dir, 'copy.img')
    writeGarbage(img, 160 << 20)
    sh('mkfs.btrfs', ['-q', '-f', '-K', img])
    withMount(img, ['commit=300'], mnt => {
      sh('sync', [])
      // An fsync the kernel cannot log commits the whole transaction instead (no log tree): try again.
      for (let i = 0; i < 8; i++) {
        const fd = openSync(join(mnt, `fsynced-${i}.bin`), 'w')
        writeSync(fd, randomBytes(`fsynced ${i}`, 1 << 20))
        fsyncSync(fd)
        closeSync(fd)
        copyFileSync(img, copy) // what a crash-consistent snapshot of the disk holds
        if (superField(copy, 'log_root') !== 0) break
      }
    })
    t.not(superField(copy, 'log_root'), 0, 'the copy has a log tree')
    for (const journal of ['strict', 'union'] as const) {
      const { v, free } = await verdict(copy, { journal, lvmFree: false })
      t.equal(v.decision, 'skip', `--trim-journal ${journal}: skipped (${v.reason})`)
      t.match(v.reason, journal === 'strict' ? /log tree awaits replay.*strict/ : /log tree awaits replay.*union cannot prove/)
      t.same(free, [])
    }
    t.equal((await verdict(img)).v.decision, 'trim', 'after umount the same filesystem is trimmed')
  })

  t.test('a real two-device filesystem', async t => {
    const dir = t.testdir()
    const a = join(dir, 'a.img')
    const b = join(dir, 'b.img')
    writeGarbage(a, 128 << 20)
    writeGarbage(b, 128 << 20)
    sh('mkfs.btrfs', ['-q', '-f', '-K', '-d', 'single', '-m', 'single', a, b])
    for (const img of [a, b]) {
      const { v, free } = await verdict(img)
      t.equal(v.decision, 'skip')
      t.match(v.reason, /multi-device filesystem \(2 devices/)
      t.same(free, [])
    }
  })
}
