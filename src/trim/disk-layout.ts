import type { TrimDisk } from './disk/disk.js'
import type { PartitionEntry, PartitionTable } from './partitions/partition-table.js'
import type { VolumeReport } from './report.js'
import { type VolumeLayout, linearLayout, volumeReader } from './layout.js'
import { gptSectorSizes, readGpt } from './partitions/gpt.js'
import { readMbr } from './partitions/mbr.js'
import { partitionProblems } from './partitions/partitions.js'
import { findSignatures, TABLE_KINDS, type Signature } from './signatures.js'
import { ambiguityReason } from './readings.js'
import { gptSectorDoubt, mbrSectorDoubt } from './sector-size-doubt.js'
import type { Range } from './ranges.js'

/** A volume to look into: a partition or the whole disk. */
export interface Candidate {
  id: string
  layout: VolumeLayout
  /** Set when the volume must be skipped without looking inside. */
  skipReason?: string
  partitionType?: string
}

export interface DiskLayout {
  table: 'gpt' | 'mbr' | 'none'
  notes: string[]
  candidates: Candidate[]
  /** Extended partitions and rejected entries, already decided. */
  decided: VolumeReport[]
  protected: Range[]
}

const wholeDiskSkip = (disk: TrimDisk, table: DiskLayout['table'], kind: string, reason: string, notes: string[] = []): DiskLayout => ({
  table,
  notes,
  candidates: [],
  decided: [{ id: 'disk', kind, offset: 0, length: disk.size, decision: 'skip', reason, freeBytes: 0, details: {} }],
  protected: [],
})

/**
 * Finds the volumes of one disk. Every signature the disk carries is found
 * first (signatures.ts); a disk is read in one way only when it has exactly
 * one plausible reading: one partition table whose partitions hold every
 * other signature found (a signature is a partition's when probing that
 * partition finds it at the same place), or no table and one whole-disk
 * volume (analyzeVolume checks that one is alone). Anything else, and any md
 * superblock not inside a partition, leaves the whole disk untouched.
 */
export async function diskLayout(disk: TrimDisk): Promise<DiskLayout> {
  const disks = new Map([[disk.name, disk]])
  const whole = linearLayout('disk', disk.name, 0, disk.size)
  const sigs = await findSignatures(volumeReader(whole, disks))
  const tables = sigs.filter(s => TABLE_KINDS.includes(s.kind))
  const others = sigs.filter(s => !TABLE_KINDS.includes(s.kind))
  if (tables.length === 0) {
    if (others.length > 0) return { table: 'none', notes: ['no partition table: volume on the whole disk'], candidates: [{ id: 'disk', layout: whole }], decided: [], protected: [] }
    return wholeDiskSkip(disk, 'none', 'raw', 'no partition table and no recognised signature', ['no partition table and no recognised signature'])
  }
  if (tables.length > 1) return wholeDiskSkip(disk, 'none', 'ambiguous', ambiguityReason(tables))
  let t: PartitionTable | undefined
  if (tables[0]!.kind === 'gpt') {
    const sizes = await gptSectorSizes(disk)
    const doubt = gptSectorDoubt(sizes)
    if (doubt) return wholeDiskSkip(disk, 'gpt', 'ambiguous', doubt)
    t = await readGpt(disk, sizes[0] ?? 512)
  } else {
    // A 4Kn disk's MBR read in 512-byte sectors would place every partition wrongly.
    const doubt = await mbrSectorDoubt(disk)
    if (doubt) return wholeDiskSkip(disk, 'mbr', 'ambiguous', doubt)
    t = await readMbr(disk)
  }
  if (!t) return wholeDiskSkip(disk, 'none', 'ambiguous', 'MBR signature but no readable table')
  const foreign: Signature[] = []
  for (const s of others) if (!(await claimedByPartition(disk, disks, t.partitions, s))) foreign.push(s)
  if (foreign.length > 0) {
    const md = foreign.find(s => s.kind === 'md-raid')
    const reason = md ? `${md.what}: an md RAID member is never read as a plain disk (also ${tables[0]!.what}), skipped` : ambiguityReason([...foreign, tables[0]!])
    return wholeDiskSkip(disk, t.table, md ? 'md-raid' : 'ambiguous', reason, t.notes)
  }
  return fromTable(disk, t)
}

/** True when `s`, found on the whole disk, lies in a partition whose own probe finds it at the same place. */
async function claimedByPartition(disk: TrimDisk, disks: Map<string, TrimDisk>, parts: PartitionEntry[], s: Signature): Promise<boolean> {
  for (const p of parts) {
    if (s.offset < p.start || s.offset >= p.start + p.size || p.start + p.size > disk.size) continue
    const inner = await findSignatures(volumeReader(linearLayout(p.id, disk.name, p.start, p.size), disks))
    if (inner.some(x => x.kind === s.kind && p.start + x.offset === s.offset)) return true
  }
  return false
}

function fromTable(disk: TrimDisk, t: PartitionTable): DiskLayout {
  const problems = partitionProblems([...t.partitions, ...t.rejected], disk.size, t.protected)
  const decided: VolumeReport[] = []
  for (const c of t.containers) {
    decided.push({ id: c.id, kind: c.kind, offset: c.start, length: c.size, decision: 'container', reason: c.reason, freeBytes: 0, details: {} })
  }
  for (const r of t.rejected) {
    decided.push({ id: r.id, kind: 'partition', offset: r.start, length: r.size, decision: 'skip', reason: r.reason, freeBytes: 0, details: { type: r.type } })
  }
  const candidates: Candidate[] = t.partitions.map(p => ({
    id: p.id,
    layout: linearLayout(p.id, disk.name, p.start, Math.max(0, Math.min(p.size, disk.size - p.start))),
    partitionType: p.type,
    ...(problems.has(p.id) ? { skipReason: problems.get(p.id)! } : {}),
  }))
  return { table: t.table, notes: t.notes, candidates, decided, protected: t.protected }
}
