import type { TrimDisk } from './disk/disk.js'
import type { PartitionTable } from './partitions/partition-table.js'
import type { VolumeReport } from './report.js'
import { type VolumeLayout, linearLayout, volumeReader } from './layout.js'
import { gptSectorSize, readGpt } from './partitions/gpt.js'
import { readMbr, isProtectiveMbr } from './partitions/mbr.js'
import { partitionProblems } from './partitions/partitions.js'
import { probeStart, probeVolume } from './signatures.js'
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

/**
 * Finds the volumes of one disk. Probe order (reference §2): GPT (primary, or
 * backup when the protective MBR says GPT), a volume signature at byte 0 of
 * the disk (whole-disk fs/PV/swap), MBR with its EBR chain.
 */
export async function diskLayout(disk: TrimDisk): Promise<DiskLayout> {
  const disks = new Map([[disk.name, disk]])
  const whole = linearLayout('disk', disk.name, 0, disk.size)
  const sec0 = Buffer.alloc(512)
  if (disk.size >= 512) await disk.read(sec0, 0)
  const ss = await gptSectorSize(disk)
  if (ss !== undefined || isProtectiveMbr(sec0)) return fromTable(disk, await readGpt(disk, ss ?? 512))
  if ((await probeStart(volumeReader(whole, disks))).length > 0) {
    return { table: 'none', notes: ['no partition table: volume on the whole disk'], candidates: [{ id: 'disk', layout: whole }], decided: [], protected: [] }
  }
  const mbr = await readMbr(disk)
  if (mbr) return fromTable(disk, mbr)
  const end = await probeVolume(volumeReader(whole, disks))
  if (end.length > 0) return { table: 'none', notes: [], candidates: [{ id: 'disk', layout: whole }], decided: [], protected: [] }
  return {
    table: 'none',
    notes: ['no partition table and no recognised signature'],
    candidates: [],
    decided: [{ id: 'disk', kind: 'raw', offset: 0, length: disk.size, decision: 'skip', reason: 'no partition table and no recognised signature', freeBytes: 0, details: {} }],
    protected: [],
  }
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
