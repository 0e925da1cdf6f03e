import { humanBytes } from '../util/human.js'
/** The JSON-able result of planning (what `info --free-space --json` prints). */
export type Decision = 'trim' | 'skip' | 'container' | 'untouched'

export interface VolumeReport {
  /** 'p1', 'p5', 'vg/lv', 'vg/<free>' (unallocated extents), 'disk' (whole-disk volume). */
  id: string
  /** 'ext4', 'ext3', 'ext2', 'swap', 'ntfs', 'lvm2-pv', 'extended', 'lvm-free', 'luks', 'raw', ... */
  kind: string
  label?: string
  /** Device byte range (LVs: first segment's device offset, total LV length). */
  offset: number
  length: number
  decision: Decision
  reason?: string
  /** Bytes declared free (0 unless decision is 'trim', or 'untouched' free extents). */
  freeBytes: number
  details: Record<string, unknown>
}

export interface DiskReport {
  name: string
  size: number
  /** Partition table found: 'gpt', 'mbr', or 'none' (whole-disk volume or nothing). */
  table: 'gpt' | 'mbr' | 'none'
  notes: string[]
  volumes: VolumeReport[]
}

export interface TrimReport {
  options: { journal: 'strict' | 'union'; lvmFree: boolean }
  /** Set when nothing at all is trimmed (a vmstate device is present). */
  reason?: string
  disks: DiskReport[]
  /** Sum of freeBytes of 'trim' volumes. */
  freeBytes: number
}

/** How people name the kinds in a report line ("p4 NTFS 'Windows' trimmed 3.1 GiB"). */
const KIND_NAMES: Record<string, string> = { ntfs: 'NTFS', vfat: 'FAT', luks: 'LUKS', raw: 'data', 'lvm2-pv': 'LVM PV' }


/** "drive-scsi0: p1 ext4 trimmed 44.0 MiB; p2 swap trimmed 64.0 MiB; p3 skipped: LUKS" */
export function summaryLine(d: DiskReport): string {
  const parts = d.volumes
    .filter(v => v.decision === 'trim' || v.decision === 'skip')
    .map(v => {
      const what = `${v.id} ${KIND_NAMES[v.kind] ?? v.kind}${v.label ? ` '${v.label}'` : ''}`
      return v.decision === 'trim' ? `${what} trimmed ${humanBytes(v.freeBytes)}` : `${what} skipped: ${v.reason ?? v.kind}`
    })
  return `${d.name}: ${parts.length ? parts.join('; ') : 'nothing to trim'}`
}

/** The report for people: a line per device (a skip says why and what would help), then the total. */
export function reportLines(r: TrimReport): string[] {
  if (r.reason) return [`nothing trimmed: ${r.reason}`]
  const lines = r.disks.map(summaryLine)
  lines.push(`${humanBytes(r.freeBytes)} declared free in trimmed volumes`)
  return lines
}
