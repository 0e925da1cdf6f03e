// The check every fixture image goes through (used by trim-fixtures-*.test.ts):
// decisions per volume as in manifest.json, free ranges as in NAME.free.json,
// the zeroed copy's sha256 as manifest's sha256_after_trim, every volume not
// trimmed byte-identical, the guard's recheck clean on the output.
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { planTrim, type TrimPlan } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { readerFor } from '../src/trim/readers.js'
import type { TrimOptions } from '../src/trim/volume.js'
import { type ManifestImage, type ManifestVolume, applyZeroer, decompress, fixturesMissing, freeJson, manifest, mergeRanges, sha256Of } from './trim-helpers.js'

export const DISK = 'drive-scsi0'

/** What the manifest expects of a volume under these options (NTFS comes from another reader). */
export function expectedDecision(v: ManifestVolume, opts: TrimOptions): string {
  if (v.decision === 'optional') return opts.lvmFree ? 'trim' : 'untouched'
  if (v.kind === 'ntfs' && v.decision === 'trim' && !readerFor('ntfs')) return 'skip'
  return v.decision
}

export const partsOf = (v: ManifestVolume): { offset: number; length: number }[] =>
  v.segments ? v.segments.map(s => ({ offset: s.offset, length: s.length })) : [{ offset: v.offset, length: v.length }]

export interface CheckResult {
  plan: TrimPlan
  img: string
  out: string
}

export async function checkImage(t: Test, im: ManifestImage, opts: TrimOptions, dir: string, img?: string): Promise<CheckResult> {
  img ??= decompress(im.name, dir)
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
  // Without an NTFS reader the NTFS volume the manifest trims stays as it was: the expectation is then
  // the image with exactly the free.json ranges of the volumes trimmed here zeroed, computed in the same pass.
  const res = await applyZeroer(plan, DISK, img, out, notTrimmedHere.length ? mergeRanges([...wanted]) : undefined)
  t.equal(res.inputSha256, im.sha256, 'the decompressed image is the one the manifest describes')
  const expectSha = res.expectedSha256 ?? (opts.lvmFree ? im.sha256_after_trim_with_optional! : im.sha256_after_trim)
  t.equal(res.sha256, expectSha, 'zeroed copy has the expected sha256')
  const nz = await plan.countNonZeroFree(DISK, (b, o) => disk.read(b, o))
  t.equal(nz, res.changed, 'countNonZeroFree equals the bytes the zeroer changed')
  if (!opts.lvmFree && opts.journal === 'strict') {
    const left = im.volumes.filter(v => v.decision === 'trim' && expectedDecision(v, opts) !== 'trim').reduce((a, v) => a + (v.free_nonzero_bytes ?? 0), 0)
    t.equal(res.changed, im.trim_changes_bytes - left, `bytes changed = trim_changes_bytes${left ? ' minus those of volumes without a reader here' : ''}`)
  }
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

/**
 * The negative fixtures (volumes in doubt, sorted by name) from `from` to
 * `to`, plus the images named in `extra`: each checked as the manifest says,
 * and every skip has its reason. Split over files so test jobs run them side
 * by side.
 */
export function testNegatives(from: number, to?: number, extra: string[] = []): void {
  const missing = fixturesMissing()
  if (missing) {
    t.plan(0, missing)
    return
  }
  const negatives = manifest()
    .filter(i => i.name.startsWith('neg-'))
    .sort((a, b) => a.name.localeCompare(b.name))
  for (const im of [...negatives.slice(from, to), ...manifest().filter(i => extra.includes(i.name))]) {
    t.test(im.name, async t => {
      const { plan } = await checkImage(t, im, { journal: 'strict', lvmFree: false }, t.testdir())
      for (const v of plan.report.disks[0]!.volumes) if (v.decision === 'skip') t.ok(v.reason, `${v.id} skip has a reason: ${v.reason}`)
    })
  }
}
