// Hostile or unusable XFS metadata, made by patching a real mkfs.xfs image
// (re-sealing the CRC where the point is the content, not the checksum): each
// volume is skipped with its reason, never a crash, a hang or a trim.
import t from 'tap'
import { readAt, writeAt } from './fixtures/ntfs-image.js'
import { join } from 'node:path'
import { copyFileSync, truncateSync } from 'node:fs'
import { planTrim } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { xfsCrc } from '../src/trim/xfs/xfs-bytes.js'
import { run, writeGarbage } from './trim-helpers.js'
import { xfsToolsMissing } from './fixtures/xfs-image.js'

const MiB = 1 << 20
const BS = 4096
const SECT = 512
const missing = xfsToolsMissing()

/** Applies `edit` to `len` bytes at `off`; with `crcOff`, re-seals the structure's CRC as XFS computes it. */
function patch(img: string, off: number, len: number, edit: (b: Buffer) => void, crcOff?: number): void {
  const b = readAt(img, off, len)
  edit(b)
  if (crcOff !== undefined) b.writeUInt32LE(xfsCrc(b, 0, len, crcOff), crcOff)
  writeAt(img, off, b)
}

/** A v5 free-space B+tree node block (level 1) at AG 0 block `at` with the given keys and child pointers. */
function nodeBlock(uuid: Buffer, at: number, keys: [number, number][], ptrs: number[]): Buffer {
  const b = Buffer.alloc(BS)
  b.write('AB3B', 0, 'latin1')
  b.writeUInt16BE(1, 4)
  b.writeUInt16BE(keys.length, 6)
  b.writeUInt32BE(0xffffffff, 8)
  b.writeUInt32BE(0xffffffff, 12)
  b.writeBigUInt64BE(BigInt((at * BS) / 512), 0x10)
  uuid.copy(b, 0x20)
  b.writeUInt32BE(0, 0x30)
  const maxNode = Math.floor((BS - 56) / 12)
  keys.forEach(([s, c], i) => {
    b.writeUInt32BE(s, 56 + 8 * i)
    b.writeUInt32BE(c, 56 + 8 * i + 4)
  })
  ptrs.forEach((p, i) => b.writeUInt32BE(p, 56 + maxNode * 8 + 4 * i))
  b.writeUInt32LE(xfsCrc(b, 0, BS, 0x34), 0x34)
  return b
}

async function decide(img: string): Promise<{ decision: string; reason?: string; freeRanges: number }> {
  const d = await openFileDisk(img, 'd')
  const p = await planTrim([d], { journal: 'union', lvmFree: false })
  await d.close()
  const v = p.report.disks[0]!.volumes[0]!
  return { decision: v.decision, ...(v.reason ? { reason: v.reason } : {}), freeRanges: [...p.freeRanges('d')].length }
}

if (missing.length) t.plan(0, `missing tools: ${missing.join(', ')} (Debian package xfsprogs)`)
else {
  const dir = t.testdir()
  const base = join(dir, 'base.img')
  writeGarbage(base, 320 * MiB)
  const mk = run('mkfs.xfs', ['-q', '-f', '-K', base])
  if (mk.status !== 0) throw new Error(`mkfs.xfs: ${mk.out}`)
  const agf0 = readAt(base, SECT, SECT)
  const bnoRoot = agf0.readUInt32BE(0x10)
  const cntRoot = agf0.readUInt32BE(0x14)
  const agblocks = readAt(base, 0, SECT).readUInt32BE(0x54)
  const uuid = readAt(base, 0, SECT).subarray(0x20, 0x30)
  const leaf = readAt(base, bnoRoot * BS, BS)
  const rec0: [number, number] = [leaf.readUInt32BE(56), leaf.readUInt32BE(60)]
  const sb = readAt(base, 0, SECT)
  const logFsb = Number(sb.readBigUInt64BE(0x30))
  const logAt = (Math.floor(logFsb / 2 ** sb[0x7c]!) * agblocks + (logFsb % 2 ** sb[0x7c]!)) * BS
  const logEnd = logAt + sb.readUInt32BE(0x60) * BS
  // a free block of AG 0 to hold crafted nodes: the last block of its first free extent
  const spare = rec0[0] + rec0[1] - 1

  const CASES: { name: string; reason: RegExp; make: (img: string) => void }[] = [
    { name: 'untouched image (control)', reason: /^$/, make: () => {} },
    {
      name: 'a bnobt record outside its AG',
      reason: /free extent \d+\+\d+ outside the AG/,
      make: img => patch(img, bnoRoot * BS, BS, b => b.writeUInt32BE(agblocks - 2, 56), 0x34),
    },
    {
      name: 'a cycle: a node whose child is itself',
      reason: /level 1, expected 0/,
      make: img => {
        writeAt(img, spare * BS, nodeBlock(uuid, spare, [rec0], [spare]))
        patch(
          img,
          SECT,
          SECT,
          b => {
            b.writeUInt32BE(spare, 0x10)
            b.writeUInt32BE(2, 0x1c)
          },
          0xd8,
        )
      },
    },
    {
      name: 'a leaf reached twice from one node',
      reason: /left sibling|right sibling|out of order|does not match/,
      make: img => {
        writeAt(img, spare * BS, nodeBlock(uuid, spare, [rec0, [rec0[0] + 1, 1]], [bnoRoot, bnoRoot]))
        patch(
          img,
          SECT,
          SECT,
          b => {
            b.writeUInt32BE(spare, 0x10)
            b.writeUInt32BE(2, 0x1c)
          },
          0xd8,
        )
      },
    },
    { name: 'a CRC failure in the bnobt', reason: /bnobt block \d+: CRC mismatch/, make: img => patch(img, bnoRoot * BS + 100, 1, b => (b[0] = b[0]! ^ 0xff)) },
    { name: 'a CRC failure in the AGF', reason: /AGF CRC mismatch/, make: img => patch(img, SECT + 0x34, 1, b => (b[0] = b[0]! ^ 1)) },
    {
      name: 'AGF free count does not match the bnobt',
      reason: /the AGF says|free counters inconsistent/,
      make: img => patch(img, SECT, SECT, b => b.writeUInt32BE(b.readUInt32BE(0x34) + 1, 0x34), 0xd8),
    },
    {
      name: 'AGF B+tree block count does not match',
      reason: /besides their roots, the AGF says/,
      make: img => patch(img, SECT, SECT, b => b.writeUInt32BE(b.readUInt32BE(0x3c) + 1, 0x3c), 0xd8),
    },
    {
      name: 'cntbt and bnobt disagree',
      reason: /cntbt and the bnobt do not hold the same/,
      make: img => patch(img, cntRoot * BS, BS, b => b.writeUInt32BE(b.readUInt32BE(56 + 4) - 1, 56 + 4), 0x34),
    },
    { name: 'an unknown incompat bit', reason: /unknown incompat feature bits 0x40000000/, make: img => patch(img, 0, SECT, b => b.writeUInt32BE(b.readUInt32BE(0xd8) | 0x40000000, 0xd8), 0xe0) },
    { name: 'an unknown log_incompat bit', reason: /unknown log_incompat/, make: img => patch(img, 0, SECT, b => b.writeUInt32BE(0x80, 0xdc), 0xe0) },
    { name: 'needs repair', reason: /needing repair/, make: img => patch(img, 0, SECT, b => b.writeUInt32BE(b.readUInt32BE(0xd8) | 0x10, 0xd8), 0xe0) },
    { name: 'sb_inprogress', reason: /inprogress/, make: img => patch(img, 0, SECT, b => (b[0x7e] = 1), 0xe0) },
    { name: 'an external log', reason: /external log/, make: img => patch(img, 0, SECT, b => b.writeBigUInt64BE(0n, 0x30), 0xe0) },
    { name: 'a realtime device', reason: /realtime/, make: img => patch(img, 0, SECT, b => b.writeBigUInt64BE(1024n, 0x10), 0xe0) },
    { name: 'a superblock CRC failure', reason: /superblock CRC mismatch/, make: img => patch(img, 0, SECT, b => (b[0x90] = b[0x90]! ^ 1)) },
    { name: 'larger than its container', reason: /larger than its container/, make: img => truncateSync(img, 320 * MiB - 4096) },
    { name: 'a log record of another filesystem', reason: /log record at block 0: belongs to another filesystem/, make: img => patch(img, logAt + 0x130, 1, b => (b[0] = b[0]! ^ 1)) },
    { name: 'log cycle numbers that do not make a ring', reason: /do not make a ring/, make: img => patch(img, logEnd - 512, 4, b => b.writeUInt32BE(9, 0)) },
    {
      name: 'AGF of another AG',
      reason: /says it is AG 3/,
      make: img => patch(img, SECT, SECT, b => b.writeUInt32BE(3, 0x08), 0xd8),
    },
  ]
  for (const c of CASES) {
    t.test(c.name, async t => {
      const img = join(dir, 'case.img')
      copyFileSync(base, img)
      c.make(img)
      const r = await decide(img)
      if (c.reason.source === '^$') {
        t.equal(r.decision, 'trim', `the unpatched image is trimmed (${r.reason ?? ''})`)
        return
      }
      t.equal(r.decision, 'skip', 'skipped')
      t.match(r.reason ?? '', c.reason, `reason: ${r.reason}`)
      t.equal(r.freeRanges, 0, 'nothing declared free')
    })
  }
}
