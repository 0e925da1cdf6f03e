// Builds ext2/3/4 images at test time with the real mke2fs over garbage,
// deletes files (their blocks become free but keep data), trims with the
// plan's zeroer and checks against the real tools: e2fsck -fn clean, every
// file's sha256 via debugfs unchanged, identical to zerofree's output except
// the superblock fields zerofree rewrites, nothing outside the free ranges changed.
import { createHash } from 'node:crypto'
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { planTrim } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { applyZeroer, changedOutside, diffRanges, extFileSha, run, writeGarbage, haveTool } from './trim-helpers.js'
import { E, UUIDS, writePv, scatter } from './trim-lvm-build.js'
import { readFileSync } from 'node:fs'

export const TOOLS_MISSING = ['mke2fs', 'e2fsck', 'debugfs', 'zerofree'].filter(x => !haveTool(x))

/** Deterministic pseudo-random bytes. */
export function content(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size)
  let h = createHash('sha256').update(seed).digest()
  for (let o = 0; o < size; o += 32) {
    h.copy(out, o, 0, Math.min(32, size - o))
    h = createHash('sha256').update(h).digest()
  }
  return out
}

export const KEEP = { '/a.bin': 300_000, '/b.txt': 5_000, '/sub/c.bin': 1_200_000, '/sub/deep/d.bin': 70_000 }
export const DELETE = { '/del1.bin': 2_000_000, '/sub/del2.bin': 900_000 }

/** A source tree for mke2fs -d; returns the sha256 of each file to keep. */
export function sourceTree(dir: string): Record<string, string> {
  const shas: Record<string, string> = {}
  for (const [p, size] of Object.entries({ ...KEEP, ...DELETE })) {
    const full = join(dir, p)
    mkdirSync(join(full, '..'), { recursive: true })
    const data = content(p, size)
    writeFileSync(full, data)
    if (p in KEEP) shas[p] = createHash('sha256').update(data).digest('hex')
  }
  return shas
}

/** mke2fs over garbage, then delete the DELETE files with debugfs. */
export function buildExt(t: Test, dir: string, img: string, size: number, args: string[]): Record<string, string> {
  const src = join(dir, 'src')
  const shas = sourceTree(src)
  writeGarbage(img, size)
  const mk = run('mke2fs', ['-q', '-F', '-E', 'nodiscard', '-d', src, ...args, img])
  if (mk.status !== 0) throw new Error(`mke2fs ${args.join(' ')}: ${mk.out}`)
  for (const p of Object.keys(DELETE)) {
    const r = run('debugfs', ['-w', '-R', `rm ${p}`, img])
    if (r.status !== 0) throw new Error(`debugfs rm ${p}: ${r.out}`)
  }
  t.equal(run('e2fsck', ['-fn', img]).status, 0, 'the built image is clean before trimming')
  return shas
}

/** Superblock fields zerofree rewrites (volume offsets): s_wtime, s_kbytes_written, s_checksum. */
const ZEROFREE_FIELDS: [number, number][] = [
  [1072, 4],
  [1400, 8],
  [2044, 4],
]

/** Trims a whole-disk ext image and runs every check; returns the report entry. */
export async function checkBuiltExt(t: Test, dir: string, img: string, shas: Record<string, string>, kind: string): Promise<void> {
  const disk = await openFileDisk(img, 'd')
  const plan = await planTrim([disk], { journal: 'strict', lvmFree: false })
  const v = plan.report.disks[0]!.volumes[0]!
  t.equal(v.decision, 'trim', `trimmed (${v.reason ?? v.kind})`)
  t.equal(v.kind, kind, 'kind')
  const out = join(dir, 'trimmed.img')
  const res = await applyZeroer(plan, 'd', img, out)
  t.ok(res.changed > 1_000_000, `the trim changed ${res.changed} bytes (deleted files and garbage)`)
  t.equal(changedOutside(img, out, [...plan.freeRanges('d')]), 0, 'no byte outside the free ranges changed')
  t.equal(run('e2fsck', ['-fn', out]).status, 0, 'e2fsck -fn clean after the trim')
  for (const [p, sha] of Object.entries(shas)) t.equal(extFileSha(out, p, dir), sha, `${p} unchanged`)
  const zf = join(dir, 'zerofree.img')
  copyFileSync(img, zf)
  const z = run('zerofree', [zf])
  t.equal(z.status, 0, `zerofree ran ${z.out}`)
  const diff = diffRanges(out, zf)
  const allowed = diff.every(([o, n]) => ZEROFREE_FIELDS.some(([fo, fn]) => o >= fo && o + n <= fo + fn))
  t.ok(allowed, `identical to zerofree except its superblock fields (differences: ${JSON.stringify(diff)})`)
  const outDisk = await openFileDisk(out, 'd')
  t.equal(await plan.guarded.recheck([outDisk]), undefined, 'guard recheck clean')
  await outDisk.close()
  await disk.close()
}

/**
 * An ext4 of 8 extents built by buildExt, striped over two garbage-filled
 * 64 MiB PVs (sda.img, sdb.img) of one VG, and the same ext4 trimmed as a
 * plain image (fs.trimmed.img, and its plan): what a striped LV must equal
 * once trimmed.
 */
export async function buildStripedExt4(t: Test, dir: string) {
  const fsImg = join(dir, 'fs.img')
  buildExt(t, dir, fsImg, 8 * E, ['-t', 'ext4'])
  const disks = [join(dir, 'sda.img'), join(dir, 'sdb.img')]
  disks.forEach((d, i) => {
    writeGarbage(d, 64 << 20)
    writePv(d, UUIDS[i]!)
  })
  scatter(readFileSync(fsImg), disks)
  const ref = await openFileDisk(fsImg, 'fs')
  const refPlan = await planTrim([ref], { journal: 'strict', lvmFree: false })
  const trimmed = join(dir, 'fs.trimmed.img')
  await applyZeroer(refPlan, 'fs', fsImg, trimmed)
  await ref.close()
  return { fsImg, disks, refPlan, trimmed }
}

/** An ext2/3/4 made by mke2fs with `args`, expected to read as `kind`. */
export interface ExtVariant {
  name: string
  kind: string
  args: string[]
}

/** A subtest per variant: a 32 MiB image built, trimmed and checked (the variants are split over files so that test jobs run them side by side). */
export function testExtVariants(variants: ExtVariant[]): void {
  if (TOOLS_MISSING.length) {
    t.plan(0, `missing tools: ${TOOLS_MISSING.join(', ')} (Debian packages e2fsprogs, zerofree)`)
    return
  }
  for (const v of variants) {
    t.test(v.name, async t => {
      const dir = t.testdir()
      const img = join(dir, 'fs.img')
      const shas = buildExt(t, dir, img, 32 << 20, v.args)
      await checkBuiltExt(t, dir, img, shas, v.kind)
    })
  }
}
