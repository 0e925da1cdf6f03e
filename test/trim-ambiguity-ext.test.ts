// Plausible but corrupt ext metadata without checksums: group 4's block
// bitmap pointer is moved onto a zero block (a block of the fresh journal,
// itself marked used) and its free count set to match, so every bitmap check
// that needs no checksum passes while the group holds a live file. e2fsck -fn
// flags the image; the trim must leave it untouched (e2fsck pass 5's rule:
// what the inodes reference must be marked used).
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { planTrim, type TrimPlan } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { applyZeroer, extFileSha, haveTool, run, writeGarbage } from './trim-helpers.js'
import { content } from './trim-built-check.js'
import { MiB, mustRun } from './fixtures/stale-disks.js'

const missing = ['mke2fs', 'e2fsck', 'debugfs', 'dumpe2fs'].filter(x => !haveTool(x))

async function planOf(img: string): Promise<TrimPlan> {
  const d = await openFileDisk(img, 'd')
  const p = await planTrim([d], { journal: 'strict', lvmFree: false })
  await d.close()
  return p
}

/** ext4 of 64 MiB, 1 KiB blocks (8 MiB groups, flex_bg: group 4 holds only data, no superblock copy), no bitmap checksums; the journal fills half of group 2, a 30 MiB file the groups after it. */
function build(t: Test, dir: string, img: string, features: string): Record<string, string> {
  const src = join(dir, 'src')
  mkdirSync(src, { recursive: true })
  const big = content('big', 30 * MiB)
  writeFileSync(join(src, 'big.bin'), big)
  writeGarbage(img, 64 * MiB)
  mustRun('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '1024', '-O', features, '-E', 'nodiscard,lazy_itable_init=0', '-d', src, img])
  t.equal(run('e2fsck', ['-fn', img]).status, 0, 'clean as built')
  return { '/big.bin': createHash('sha256').update(big).digest('hex') }
}

/** Group g's block range, from dumpe2fs. */
function group(img: string, g: number): { blocks: [number, number] } {
  const out = run('dumpe2fs', [img]).out
  const sec = out.split(/\nGroup /).find(s => s.startsWith(`${g}:`))!
  const bl = /\([Bb]locks (\d+)-(\d+)\)/.exec(sec)!
  return { blocks: [Number(bl[1]), Number(bl[2])] }
}

if (missing.length) t.plan(0, `missing tools: ${missing.join(', ')} (Debian package e2fsprogs)`)
else {
  for (const features of ['^metadata_csum,^uninit_bg', '^metadata_csum,uninit_bg']) {
    t.test(`group 4's block bitmap moved onto a zero block (${features})`, async t => {
      const dir = t.testdir()
      const img = join(dir, 'fs.img')
      const shas = build(t, dir, img, features)
      const g4 = group(img, 4)
      // a block of the fresh journal outside group 4: zero, marked used, and no group metadata
      const journal = [100, 1000, 2000, 3000, 4000].map(l => Number(/^(\d+)$/m.exec(run('debugfs', ['-R', `bmap <8> ${l}`, img]).out)?.[1]))
      const zero = journal.find(b => b > 0 && (b < g4.blocks[0] || b > g4.blocks[1]))
      if (!t.ok(zero, `a journal block outside group 4 (${journal.join(', ')})`)) return
      mustRun('debugfs', ['-w', '-R', `set_bg 4 block_bitmap ${zero}`, img])
      mustRun('debugfs', ['-w', '-R', `set_bg 4 free_blocks_count ${g4.blocks[1] - g4.blocks[0] + 1}`, img])
      // uninit_bg: the descriptor's crc16 is made to match, as a tool that wrote it would
      if (!features.includes('^uninit_bg')) mustRun('debugfs', ['-w', '-R', 'set_bg 4 checksum calc', img])
      const fsck = run('e2fsck', ['-fn', img])
      t.match(fsck.out, /Block bitmap differences/, `e2fsck flags the damaged image (exit ${fsck.status})`)
      const p = await planOf(img)
      const v = p.report.disks[0]!.volumes[0]!
      t.equal(v.decision, 'skip', `left untouched (${v.reason})`)
      t.match(v.reason, /belongs to inode 12 \(data\) but the block bitmap marks it free/, 'the reason names the inode and the rule')
      const out = join(dir, 'out.img')
      await applyZeroer(p, 'd', img, out)
      for (const [path, sha] of Object.entries(shas)) t.equal(extFileSha(out, path, dir), sha, `${path} intact`)
    })
  }

  t.test('the same filesystems undamaged still trim (the cross-check passes on real metadata)', async t => {
    for (const features of ['^metadata_csum,^uninit_bg,^has_journal', '^metadata_csum,uninit_bg']) {
      const dir = join(t.testdir(), features.replace(/[^a-z]/g, ''))
      mkdirSync(dir, { recursive: true })
      const img = join(dir, 'fs.img')
      build(t, dir, img, features)
      mustRun('debugfs', ['-w', '-R', 'symlink /link /some/where/short', img])
      const p = await planOf(img)
      const v = p.report.disks[0]!.volumes[0]!
      t.equal(v.decision, 'trim', `${features}: trimmed (${v.reason ?? ''})`)
      t.ok((v.details.inodesChecked as number) > 4, `${features}: the inodes were checked (${String(v.details.inodesChecked)})`)
    }
  })
}
