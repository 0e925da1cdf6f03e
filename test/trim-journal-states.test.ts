// The journal rules of reference §1/§3.7 on images made by mke2fs and edited
// with debugfs: needs_recovery with an empty journal is trimmed, a journal
// that is not empty while needs_recovery is clear, a recorded journal error,
// and needs_recovery with an external journal are skipped.
import t from 'tap'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { planTrim } from '../src/trim/plan.js'
import type { TrimDisk } from '../src/trim/disk/disk.js'
import { crc32cRaw } from '../src/trim/bytes/crc32c.js'
import { haveTool, run, writeGarbage } from './trim-helpers.js'

const memDisk = (buf: Buffer): TrimDisk => ({ name: 'd', size: buf.length, read: async (b, off) => void buf.copy(b, 0, off, off + b.length) })
const decide = async (img: Buffer) => {
  const p = await planTrim([memDisk(img)], { journal: 'strict', lvmFree: false })
  return p.report.disks[0]!.volumes[0]!
}

if (!haveTool('mke2fs') || !haveTool('debugfs')) t.plan(0, 'e2fsprogs missing (Debian package e2fsprogs)')
else {
  const dir = t.testdir()
  const path = join(dir, 'fs.img')
  writeGarbage(path, 16 << 20)
  const mk = run('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-E', 'nodiscard', path])
  if (mk.status !== 0) throw new Error(mk.out)
  const bmap = run('debugfs', ['-R', 'bmap <8> 0', path])
  const jsb = Number(/^(\d+)$/m.exec(bmap.out)?.[1]) * 4096
  const clean = readFileSync(path)
  const fixSb = (b: Buffer): void => void b.writeUInt32LE(crc32cRaw(0xffffffff, b, 1024, 1024 + 0x3fc), 1024 + 0x3fc)
  const setRecover = (b: Buffer): void => {
    b.writeUInt32LE(b.readUInt32LE(1024 + 0x60) | 0x4, 1024 + 0x60)
    fixSb(b)
  }

  t.test('clean journal: trimmed', async t => {
    t.ok(jsb > 0 && clean.readUInt32BE(jsb) === 0xc03b3998, `journal superblock found at ${jsb} via debugfs bmap`)
    const v = await decide(clean)
    t.equal(v.decision, 'trim')
    t.match(v.details.journal, /clean/)
  })
  t.test('needs_recovery set, journal empty: nothing to replay, trimmed', async t => {
    const b = Buffer.from(clean)
    setRecover(b)
    const v = await decide(b)
    t.equal(v.decision, 'trim', `${v.reason ?? ''}`)
    t.match(v.details.journal, /nothing to replay/)
  })
  t.test('needs_recovery set, s_start points at no transaction: nothing to replay', async t => {
    const b = Buffer.from(clean)
    setRecover(b)
    b.writeUInt32BE(1, jsb + 0x1c)
    const v = await decide(b)
    t.equal(v.decision, 'trim', `${v.reason ?? ''}`)
    t.match(v.details.journal, /no committed transaction/)
  })
  t.test('needs_recovery clear but the journal not empty: skipped', async t => {
    const b = Buffer.from(clean)
    b.writeUInt32BE(1, jsb + 0x1c)
    const v = await decide(b)
    t.equal(v.decision, 'skip')
    t.match(v.reason, /not empty/)
  })
  t.test('journal records an error: skipped', async t => {
    const b = Buffer.from(clean)
    b.writeInt32BE(-5, jsb + 0x20)
    const v = await decide(b)
    t.equal(v.decision, 'skip')
    t.match(v.reason, /s_errno/)
  })
  t.test('needs_recovery with an external journal: skipped', async t => {
    const b = Buffer.from(clean)
    b.writeUInt32LE(0x0801, 1024 + 0xe4) // s_journal_dev
    setRecover(b)
    const v = await decide(b)
    t.equal(v.decision, 'skip')
    t.match(v.reason, /external journal/)
  })
}
