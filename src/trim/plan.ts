import type { AllocationMap, TrimOptions } from './volume.js'
import type { TrimDisk } from './disk/disk.js'
import type { DiskReport, TrimReport, VolumeReport } from './report.js'
import { type VolumeLayout, piecesOf, volumeReader } from './layout.js'
import type { VolumeReader } from './volume.js'
import { probeVolume } from './signatures.js'
import { extKind, rawFeatures } from './ext/ext4-superblock.js'
import { diskLayout } from './disk-layout.js'
import { analyzeVolume } from './volume-analysis.js'
import { assembleVgs, type FoundPv, type VgPlan } from './lvm/lvm.js'
import { countFreeUnits, freeRunsIn } from './allocation-map.js'
import { type ClusterZeroer, type MappedPiece, makeZeroer, freeDeviceRanges } from './zeroer.js'
import { RecordingDisk } from './read-recorder.js'
import { type GuardedRange, guardRanges, firstChangedRange } from './guard.js'
import { type Range, mergeRanges, subtractRanges, intersects } from './ranges.js'
import { reasonOf } from './skip.js'
import { nonZeroBytes } from './non-zero.js'

export type { TrimDisk } from './disk/disk.js'
export type { ClusterZeroer } from './zeroer.js'
export type { TrimReport, DiskReport, VolumeReport } from './report.js'

export interface TrimGuard {
  /** Per disk: every byte range the planner read that is not declared free, with its sha256. */
  ranges(diskName: string): GuardedRange[]
  /**
   * Re-reads the guarded ranges from another copy of the disks (the trimmed
   * output) and plans that copy again: undefined when every range is
   * byte-identical and the same volumes declare exactly the same free space,
   * otherwise the first difference as a sentence.
   */
  recheck(disks: TrimDisk[]): Promise<string | undefined>
}

export interface TrimPlan {
  report: TrimReport
  zeroer(diskName: string): ClusterZeroer
  /** Sorted, merged [offset, length] device ranges declared free on this disk. */
  freeRanges(diskName: string): Iterable<Range>
  /**
   * The free ranges of one reported volume (`diskName` is the disk it is
   * reported on, `id` its id there), per disk it lies on: an LV's other legs
   * included, its neighbours' ranges never.
   */
  volumeFreeRanges(diskName: string, id: string): Iterable<[string, Range]>
  /** How many bytes declared free are non-zero in the data `read` returns (reads only the free ranges). */
  countNonZeroFree(diskName: string, read: (buf: Buffer, offset: number) => Promise<void>): Promise<number>
  guarded: TrimGuard
}

/** A volume the plan zeroes, tied to its report entry so later checks can still skip it. */
interface Trimmed {
  disk: string
  entry: VolumeReport
  pieces: MappedPiece[]
}

interface DiskState {
  report: DiskReport
  protected: Range[]
}

export const VMSTATE_REASON = 'the archive holds a vmstate device (RAM state): a resumed guest expects its disks exactly as they were, nothing is trimmed'

export async function planTrim(disks: TrimDisk[], opts: TrimOptions): Promise<TrimPlan> {
  const recorders = new Map(disks.map(d => [d.name, new RecordingDisk(d)]))
  const vmstate = disks.some(d => d.name === 'vmstate')
  const states = new Map<string, DiskState>()
  const trims: Trimmed[] = []
  const pvs: FoundPv[] = []
  for (const disk of disks) {
    if (disk.name === 'vmstate') continue
    states.set(disk.name, await planDisk(recorders.get(disk.name)!, recorders, opts, trims, pvs))
  }
  for (const vg of assembleVgs(pvs)) await planVg(vg, pvs, recorders, opts, states, trims)
  enforceProtected(trims, states)
  if (vmstate) for (const t of trims) demote(t, VMSTATE_REASON)
  const pieces = finalPieces(trims)
  const report: TrimReport = {
    options: { journal: opts.journal, lvmFree: opts.lvmFree },
    ...(vmstate ? { reason: VMSTATE_REASON } : {}),
    disks: [...states.values()].map(s => s.report),
    freeBytes: 0,
  }
  report.freeBytes = report.disks.reduce((a, d) => a + d.volumes.reduce((b, v) => b + (v.decision === 'trim' ? v.freeBytes : 0), 0), 0)
  const guarded = new Map<string, GuardedRange[]>()
  for (const [name, rec] of recorders) {
    if (!states.has(name)) continue
    guarded.set(name, await guardRanges(disks.find(d => d.name === name)!, subtractRanges(rec.recorded(), freeDeviceRanges(pieces.get(name) ?? []))))
  }
  return makePlan(report, pieces, guarded, opts, trims)
}

async function planDisk(disk: RecordingDisk, all: Map<string, TrimDisk>, opts: TrimOptions, trims: Trimmed[], pvs: FoundPv[]): Promise<DiskState> {
  const report: DiskReport = { name: disk.name, size: disk.size, table: 'none', notes: [], volumes: [] }
  let layout
  try {
    layout = await diskLayout(disk)
  } catch (e) {
    report.notes.push(`partition table unreadable: ${reasonOf(e)}`)
    return { report, protected: [] }
  }
  report.table = layout.table
  report.notes.push(...layout.notes)
  report.volumes.push(...layout.decided)
  for (const c of layout.candidates) {
    const devStart = c.layout.segments[0]!.legs[0]!.devStart
    const base = { id: c.id, offset: devStart, length: c.layout.size, freeBytes: 0 }
    if (c.skipReason) {
      const kind = await kindForReport(volumeReader(c.layout, all))
      report.volumes.push({ ...base, kind, decision: 'skip', reason: c.skipReason, details: { type: c.partitionType } })
      continue
    }
    const a = await analyzeVolume(volumeReader(c.layout, all), opts, false)
    const entry: VolumeReport = {
      ...base,
      kind: a.kind,
      ...(a.label ? { label: a.label } : {}),
      decision: a.decision,
      ...(a.reason ? { reason: a.reason } : {}),
      freeBytes: a.freeBytes,
      details: { ...(c.partitionType ? { type: c.partitionType } : {}), ...a.details },
    }
    report.volumes.push(entry)
    if (a.pv) pvs.push({ disk: disk.name, devStart, size: c.layout.size, containerId: c.id, info: a.pv })
    if (a.map) trims.push({ disk: disk.name, entry, pieces: mapped(c.layout, a.map) })
  }
  return { report, protected: mergeRanges([...layout.protected]) }
}

/** What a partition skipped without analysis holds, for the report only (nothing is decided on it). */
async function kindForReport(vol: VolumeReader): Promise<string> {
  try {
    const sigs = await probeVolume(vol)
    if (sigs.length !== 1) return sigs.length ? 'ambiguous' : 'raw'
    if (sigs[0] === 'ext' && vol.size >= 2048) {
      const raw = Buffer.alloc(1024)
      await vol.read(raw, 1024)
      return extKind(rawFeatures(raw))
    }
    return sigs[0]!.startsWith('swap') ? 'swap' : sigs[0]!
  } catch {
    return 'partition'
  }
}

function mapped(layout: VolumeLayout, map: AllocationMap): MappedPiece[] {
  return piecesOf(layout).map(p => ({ ...p, map }))
}

async function planVg(vg: VgPlan, pvs: FoundPv[], all: Map<string, TrimDisk>, opts: TrimOptions, states: Map<string, DiskState>, trims: Trimmed[]): Promise<void> {
  const members = pvs.filter(p => p.info.vgName === vg.name)
  for (const pv of members) {
    const st = states.get(pv.disk)!
    st.protected = mergeRanges([...st.protected, [pv.devStart, 4 * 512], ...pv.info.mdas.map(([o, n]): Range => [pv.devStart + o, n])])
  }
  const home = states.get(members[0]!.disk)!
  if (vg.reason) {
    home.report.volumes.push({ id: `${vg.name}/*`, kind: 'lvm2-vg', offset: members[0]!.devStart, length: 0, decision: 'skip', reason: vg.reason, freeBytes: 0, details: {} })
    return
  }
  for (const lv of vg.lvs) {
    if (!lv.layout) {
      home.report.volumes.push({ id: lv.id, kind: 'lv', offset: members[0]!.devStart, length: 0, decision: 'skip', reason: lv.reason ?? 'not mapped', freeBytes: 0, details: {} })
      continue
    }
    const first = lv.layout.segments[0]!.legs[0]!
    const st = states.get(first.disk)!
    const a = await analyzeVolume(volumeReader(lv.layout, all), opts, true)
    const entry: VolumeReport = {
      id: lv.id,
      kind: a.kind,
      ...(a.label ? { label: a.label } : {}),
      offset: first.devStart,
      length: lv.layout.size,
      decision: a.decision === 'container' ? 'skip' : a.decision,
      ...(a.reason ? { reason: a.reason } : {}),
      freeBytes: a.freeBytes,
      details: { ...a.details, segments: lv.layout.segments.map(s => ({ lvOffset: s.volStart, length: s.length, chunk: s.chunk, legs: s.legs })) },
    }
    st.report.volumes.push(entry)
    if (a.map) trims.push({ disk: first.disk, entry, pieces: mapped(lv.layout, a.map) })
  }
  for (const f of vg.free) planFreeExtents(vg, f, opts, states, trims)
}

/** Unallocated extents of one PV: pieces only over the free extent runs (the map keeps allocated ones used anyway). */
function planFreeExtents(vg: VgPlan, f: VgPlan['free'][number], opts: TrimOptions, states: Map<string, DiskState>, trims: Trimmed[]): void {
  const { pv, map } = f
  const freeBytes = countFreeUnits(map) * map.unit
  const runs = [...freeRunsIn(map, map.first, map.first + map.units * map.unit)]
  const span: Range = runs.length ? [runs[0]![0], runs[runs.length - 1]![1] - runs[0]![0]] : [map.first, 0]
  const entry: VolumeReport = {
    id: `${vg.name}/<free>`,
    kind: 'lvm-free',
    offset: pv.devStart + span[0],
    length: span[1],
    decision: opts.lvmFree ? 'trim' : 'untouched',
    reason: opts.lvmFree ? 'unallocated physical extents' : 'unallocated physical extents (zeroed only with --trim-lvm-free)',
    freeBytes,
    details: { pv: pv.containerId, extentSize: vg.extentSize },
  }
  states.get(pv.disk)!.report.volumes.push(entry)
  if (!opts.lvmFree || freeBytes === 0) return
  const pieces: MappedPiece[] = []
  for (const [s, e] of runs) {
    pieces.push({ disk: pv.disk, devStart: pv.devStart + s, length: e - s, volOffset: s, chunk: e - s, stride: e - s, map })
  }
  trims.push({ disk: pv.disk, entry, pieces })
}

function demote(t: Trimmed, reason: string): void {
  if (t.entry.decision !== 'trim') return
  t.entry.details = { ...t.entry.details, declaredFreeBytes: t.entry.freeBytes }
  t.entry.decision = 'skip'
  t.entry.reason = reason
  t.entry.freeBytes = 0
}

/** Defence in depth: no declared-free byte may lie in a partition table, EBR or LVM label/metadata area. */
function enforceProtected(trims: Trimmed[], states: Map<string, DiskState>): void {
  for (const t of trims) {
    const prot = states.get(t.disk)?.protected ?? []
    const sorted = [...t.pieces].sort((a, b) => a.devStart - b.devStart)
    for (const [o, n] of freeDeviceRanges(sorted)) {
      if (intersects(prot, o, n)) {
        demote(t, `declared free space overlaps partition-table or LVM metadata at device offset ${o}`)
        break
      }
    }
  }
}

/** Per disk, the sorted pieces of every volume still trimmed; volumes whose pieces overlap another's are skipped. */
function finalPieces(trims: Trimmed[]): Map<string, MappedPiece[]> {
  for (;;) {
    const byDisk = new Map<string, { p: MappedPiece; t: Trimmed }[]>()
    for (const t of trims) {
      if (t.entry.decision !== 'trim') continue
      for (const p of t.pieces) {
        // push, not a copy per piece: a hostile LV can have many thousands of segments
        const list = byDisk.get(p.disk)
        if (list) list.push({ p, t })
        else byDisk.set(p.disk, [{ p, t }])
      }
    }
    let clash = false
    for (const list of byDisk.values()) {
      list.sort((a, b) => a.p.devStart - b.p.devStart)
      for (let i = 1; i < list.length; i++) {
        const prev = list[i - 1]!
        if (list[i]!.p.devStart < prev.p.devStart + prev.p.length && list[i]!.t !== prev.t) {
          demote(prev.t, `overlaps ${list[i]!.t.entry.id} on the device`)
          demote(list[i]!.t, `overlaps ${prev.t.entry.id} on the device`)
          clash = true
        }
      }
    }
    if (!clash) return new Map([...byDisk].map(([d, l]) => [d, l.map(x => x.p)]))
  }
}

function makePlan(report: TrimReport, pieces: Map<string, MappedPiece[]>, guarded: Map<string, GuardedRange[]>, opts: TrimOptions, trims: Trimmed[]): TrimPlan {
  const of = (name: string): MappedPiece[] => pieces.get(name) ?? []
  const plan: TrimPlan = {
    report,
    volumeFreeRanges: (diskName, id) => volumeRanges(trims.find(x => x.disk === diskName && x.entry.id === id && x.entry.decision === 'trim')),
    zeroer: name => makeZeroer(of(name)),
    freeRanges: name => ({ [Symbol.iterator]: () => freeDeviceRanges(of(name)) }),
    countNonZeroFree: (name, read) => countNonZero(plan.freeRanges(name), read),
    guarded: {
      ranges: name => guarded.get(name) ?? [],
      recheck: disks => recheck(plan, guarded, disks, opts),
    },
  }
  return plan
}

/** A trimmed volume's free device ranges, disk by disk, generated (a fragmented filesystem has millions). */
function* volumeRanges(t: Trimmed | undefined): Generator<[string, Range]> {
  if (!t) return
  for (const d of new Set(t.pieces.map(p => p.disk))) {
    const mine = t.pieces.filter(p => p.disk === d).sort((a, b) => a.devStart - b.devStart)
    for (const r of freeDeviceRanges(mine)) yield [d, r]
  }
}

const STEP = 1 << 20
const ZERO_4K = Buffer.alloc(4096)

export async function countNonZero(ranges: Iterable<Range>, read: (buf: Buffer, offset: number) => Promise<void>): Promise<number> {
  const buf = Buffer.alloc(STEP)
  let nz = 0
  for (const [o, n] of ranges) {
    for (let done = 0; done < n; ) {
      const len = Math.min(STEP, n - done)
      const part = buf.subarray(0, len)
      await read(part, o + done)
      for (let i = 0; i < len; i += 4096) {
        const e = Math.min(len, i + 4096)
        if (part.compare(ZERO_4K, 0, e - i, i, e) !== 0) nz += nonZeroBytes(part, i, e)
      }
      done += len
    }
  }
  return nz
}

async function recheck(plan: TrimPlan, guarded: Map<string, GuardedRange[]>, disks: TrimDisk[], opts: TrimOptions): Promise<string | undefined> {
  for (const [name, ranges] of guarded) {
    const d = disks.find(x => x.name === name)
    if (!d) return `disk ${name} missing from the copy`
    if (d.size !== plan.report.disks.find(r => r.name === name)?.size && name !== 'vmstate') return `disk ${name} changed size`
    const changed = await firstChangedRange(d, ranges)
    if (changed) return `disk ${name}: metadata at ${changed.offset} (+${changed.length}) differs in the copy`
  }
  // a plan made with a vmstate device present must be compared with one made the same way
  const vmstate: TrimDisk = { name: 'vmstate', size: 0, read: async () => undefined }
  const again = await planTrim(plan.report.reason && !disks.some(d => d.name === 'vmstate') ? [...disks, vmstate] : disks, opts)
  for (const dr of plan.report.disks) {
    const other = again.report.disks.find(x => x.name === dr.name)
    if (!other) return `disk ${dr.name} not planned again`
    const sig = (r: DiskReport): string => JSON.stringify(r.volumes.map(v => [v.id, v.decision, v.freeBytes]))
    if (sig(dr) !== sig(other)) return `disk ${dr.name}: planning the copy gives different decisions`
    const a = plan.freeRanges(dr.name)[Symbol.iterator]()
    const b = again.freeRanges(dr.name)[Symbol.iterator]()
    for (;;) {
      const x = a.next()
      const y = b.next()
      if (x.done || y.done) {
        if (x.done !== y.done) return `disk ${dr.name}: the copy declares a different number of free ranges`
        break
      }
      if (x.value[0] !== y.value[0] || x.value[1] !== y.value[1]) return `disk ${dr.name}: free range at ${x.value[0]} differs in the copy`
    }
  }
  return undefined
}
