// The check every fixture image goes through (used by trim-fixtures-*.test.ts):
// decisions per volume as in manifest.json, free ranges as in NAME.free.json,
// the zeroed copy's sha256 as manifest's sha256_after_trim, every volume not
// trimmed byte-identical, the guard's recheck clean on the output.
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { openSync, readSync, closeSync, fstatSync } from 'node:fs'
import type { Test } from 'tap'
import { planTrim, type TrimPlan } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/file-disk.js'
import { readerFor } from '../src/trim/readers.js'
import type { TrimOptions } from '../src/trim/volume.js'
import {
  type ManifestImage, type ManifestVolume, applyZeroer, decompress, freeJson, mergeRanges, sha256Of, sha256File,
} from './trim-helpers.js'

export const DISK = 'drive-scsi0'

/** What the manifest expects of a volume under these options (NTFS comes from another reader). */
export function expectedDecision(v: ManifestVolume, opts: TrimOptions): string {
  if (v.decision === 'optional') return opts.lvmFree ? 'trim' : 'untouched'
  if (v.kind === 'ntfs' && v.decision === 'trim' && !readerFor('ntfs')) return 'skip'
  return v.decision
}

export const partsOf = (v: ManifestVolume): { offset: number; length: number }[] =>
  v.segments ? v.segments.map(s => ({ offset: s.offset, length: s.length })) : [{ offset: v.offset, length: v.length }]

/** sha256 of the image with the given ranges zeroed: the expectation when a volume the manifest trims is not trimmed here. */
async function shaWithRangesZeroed(img: string, ranges: [number, number][]): Promise<string> {
  const fd = openSync(img, 'r')
  const size = fstatSync(fd).size
  const h = createHash('sha256')
  const buf = Buffer.alloc(1 << 20)
  let ri = 0
  for (let off = 0; off < size; off += buf.length) {
    const n = Math.min(buf.length, size - off)
    readSync(fd, buf, 0, n, off)
    while (ri < ranges.length && ranges[ri]![0] + ranges[ri]![1] <= off) ri++
    for (let k = ri; k < ranges.length && ranges[k]![0] < off + n; k++) {
      const [o, l] = ranges[k]!
      buf.fill(0, Math.max(0, o - off), Math.min(n, o + l - off))
    }
    h.update(buf.subarray(0, n))
  }
  closeSync(fd)
  return h.digest('hex')
}

export interface CheckResult {
  plan: TrimPlan
  img: string
  out: string
}

export async function checkImage(t: Test, im: ManifestImage, opts: TrimOptions, dir: string, img?: string): Promise<CheckResult> {
  img ??= decompress(im.name, dir)
  if (!opts.lvmFree && opts.journal === 'strict') t.equal(sha256File(img), im.sha256, 'decompressed image sha256')
  const disk = await openFileDisk(img, DISK)
  const plan = await planTrim([disk], opts)
  const dr = plan.report.disks[0]!
  t.equal(dr.table, im.partition_table, 'partition table')
  const free = freeJson(im.name)
  const wanted: [number, number][] = []
  let notTrimmedHere: [number, number][] = []
  for (const v of im.volumes) {
    const got = dr.volumes.find(x => x.id === v.id)
    const exp = expectedDecision(v, opts)
    if (!got) {
      t.fail(`volume ${v.id} missing from the report`)
      continue
    }
    t.equal(got.decision, exp, `${v.id}: decision ${exp} (${got.reason ?? got.kind})`)
    if (exp === 'trim') {
      t.equal(got.kind, v.kind === 'lvm-free' ? 'lvm-free' : v.kind, `${v.id}: kind`)
      if (v.free_bytes !== undefined) t.equal(got.freeBytes, v.free_bytes, `${v.id}: free bytes`)
      wanted.push(...(free[v.id] ?? []))
    } else if (v.decision === 'trim') notTrimmedHere.push(...(free[v.id] ?? []))
    if (!v.segments) t.same([got.offset, got.length], [v.offset, v.length], `${v.id}: device range`)
  }
  notTrimmedHere = mergeRanges(notTrimmedHere)
  t.same([...plan.freeRanges(DISK)], mergeRanges(wanted), 'free ranges equal NAME.free.json of the trimmed volumes')
  const out = join(dir, `${im.name}.trimmed.img`)
  const res = await applyZeroer(plan, DISK, img, out)
  let expectSha = opts.lvmFree ? im.sha256_after_trim_with_optional! : im.sha256_after_trim
  if (notTrimmedHere.length) {
    // a volume the manifest trims (NTFS, while its reader is not registered) stays as it was
    const allFree = mergeRanges([...wanted])
    expectSha = await shaWithRangesZeroed(img, allFree)
  }
  t.equal(res.sha256, expectSha, 'zeroed copy has the expected sha256')
  const nz = await plan.countNonZeroFree(DISK, (b, o) => disk.read(b, o))
  t.equal(nz, res.changed, 'countNonZeroFree equals the bytes the zeroer changed')
  if (!notTrimmedHere.length && !opts.lvmFree && opts.journal === 'strict') t.equal(res.changed, im.trim_changes_bytes, 'bytes changed = trim_changes_bytes')
  for (const v of im.volumes) {
    // containers (PV, extended partition) hold trimmed volumes: their own structures are checked by the guard and the image sha256
    if (expectedDecision(v, opts) !== 'trim' && v.decision !== 'container' && v.sha256) {
      t.equal(await sha256Of(out, partsOf(v)), v.sha256, `${v.id} (not trimmed) byte-identical`)
    }
  }
  const outDisk = await openFileDisk(out, DISK)
  t.equal(await plan.guarded.recheck([outDisk]), undefined, 'guard: metadata identical and same free space in the output')
  t.ok(plan.guarded.ranges(DISK).length > 0, 'guard ranges recorded')
  await outDisk.close()
  await disk.close()
  return { plan, img, out }
}
