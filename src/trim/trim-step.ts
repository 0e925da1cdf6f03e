// Trim as a step of writing an archive (optimize --trim, pack --trim): plan
// from the input's devices, wrap the writer's cluster reader so it zeroes
// what the plan declares free, and hand the read-back proof what it needs:
// the content digests the input minus exactly the free ranges must give,
// and a check that every metadata byte the plan rested on is unchanged.

import type { ClusterReader, EmitDevice } from '../archive/emit.js'
import type { DeviceDigest } from '../check/content-digest.js'
import type { VmaSink } from '../format/vma-sink.js'
import { loadHasher } from '../util/hasher.js'
import type { TrimDisk } from './disk/disk.js'
import { GuardSink, guardDigest } from './guard-digest.js'
import { planTrim, type TrimPlan } from './plan.js'
import { mergeRanges, type Range } from './ranges.js'
import type { TrimReport } from './report.js'
import { TrimmingClusterReader, type DeviceTrim } from './trimming-reader.js'
import type { TrimOptions } from './volume.js'

export interface TrimTarget {
  /** The device id in the archive being written. */
  id: number
  disk: TrimDisk
}

export interface TrimResult {
  report: TrimReport
  /** Non-zero bytes the writer set to zero, per device name (declared-free bytes already zero are not counted). */
  zeroed: Record<string, number>
}

export interface PreparedTrim {
  plan: TrimPlan
  /** The writer's reader, zeroing free bytes. */
  reader: ClusterReader
  /** What the read-back proof must find: `base` (the input's digests) with trimmed devices replaced. */
  expected(base: DeviceDigest[]): DeviceDigest[]
  /** Sinks for the read-back pass, and the check to run after it (a reason when it failed). */
  proof: { sinks(): VmaSink[]; check(): string | undefined }
  result(): TrimResult
}

/**
 * Whether the plan zeroes anything on this disk. Asked of the free ranges,
 * not of the report: an LV is reported on the disk of its first leg, but a
 * striped or multi-segment LV has free space on its other disks too.
 */
export function zeroesOn(plan: TrimPlan, diskName: string): boolean {
  return !plan.freeRanges(diskName)[Symbol.iterator]().next().done
}

export async function prepareTrim(targets: TrimTarget[], devices: EmitDevice[], base: ClusterReader, opts: TrimOptions): Promise<PreparedTrim> {
  const plan = await planTrim(
    targets.map(t => t.disk),
    opts,
  )
  const trims = new Map<number, DeviceTrim>()
  for (const t of targets) {
    if (zeroesOn(plan, t.disk.name)) trims.set(t.id, { zeroer: plan.zeroer(t.disk.name), freeRanges: () => plan.freeRanges(t.disk.name) })
  }
  const reader = new TrimmingClusterReader(base, trims, devices, await loadHasher())

  // What the plan read and relied on, per device, digested from the input now.
  const guarded = new Map<string, Range[]>()
  const want = new Map<string, string>()
  for (const t of targets) {
    const ranges = mergeRanges(plan.guarded.ranges(t.disk.name).map((g): Range => [g.offset, g.length]))
    if (!ranges.length) continue
    guarded.set(t.disk.name, ranges)
    want.set(t.disk.name, await guardDigest(t.disk, ranges))
  }
  const names = new Map(targets.map(t => [t.id, t.disk.name]))
  let sink: GuardSink | undefined
  let firstPass: DeviceDigest[] | undefined

  return {
    plan,
    reader,
    expected(baseDigests) {
      firstPass = baseDigests
      const mine = new Map(reader.expected().map(d => [d.id, d]))
      return baseDigests.map(d => mine.get(d.id) ?? d)
    },
    proof: {
      sinks: () => [(sink = new GuardSink(guarded))],
      check: () => {
        // The trimmed devices' expected digests came from what the writing pass read: it must be what the first pass checked.
        const first = new Map((firstPass ?? []).map(d => [d.id, d.digest]))
        for (const d of reader.inputDigests()) {
          if (first.get(d.id) !== d.digest) return `the input of ${d.name} read while writing differs from the input checked before (did it change while being read?)`
        }
        if (!sink) return 'the guarded metadata was not read back'
        let got: Map<string, string>
        try {
          got = sink.result(names)
        } catch (e) {
          return (e as Error).message
        }
        for (const [name, digest] of want) {
          if (got.get(name) !== digest) return `metadata of ${name} that the trim decisions rested on differs after writing`
        }
        return undefined
      },
    },
    result: () => ({
      report: plan.report,
      zeroed: Object.fromEntries(targets.map(t => [t.disk.name, reader.zeroed[t.id] ?? 0])),
    }),
  }
}
