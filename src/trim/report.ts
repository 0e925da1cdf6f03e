import { humanBytes } from '../util/human.js'
import { isStateDisk } from '../format/device-name.js'
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

const volumeName = (v: VolumeReport): string => `${v.id} ${KIND_NAMES[v.kind] ?? v.kind}${v.label ? ` '${v.label}'` : ''}`

/**
 * One line per device. With `zeroed` (non-zero bytes that became zero on
 * this device, known once the archive is written) it says how much data the
 * trim changed, never what was merely declared free:
 *   "drive-scsi0: p1 ext4, p2 swap trimmed, 102 MiB of data zeroed in their free space; p3 LUKS skipped: ..."
 * Without it (a plan only) it names what is trimmed and claims no amount.
 */
export function summaryLine(d: DiskReport, zeroed?: number): string {
  const trimmed = d.volumes
    .filter(v => v.decision === 'trim')
    .map(volumeName)
    .join(', ')
  const parts: string[] = []
  if (zeroed === undefined) {
    if (trimmed) parts.push(`${trimmed} trimmed (free space reads as zeros)`)
  } else if (zeroed > 0) {
    parts.push(trimmed ? `${trimmed} trimmed, ${humanBytes(zeroed)} of data zeroed in their free space` : `${humanBytes(zeroed)} of data zeroed in the free space of LVs reported on another disk`)
  } else if (trimmed) parts.push(`nothing zeroed, the free space of ${trimmed} already holds only zeros`)
  for (const v of d.volumes) if (v.decision === 'skip') parts.push(`${volumeName(v)} skipped: ${v.reason ?? v.kind}`)
  return `${d.name}: ${parts.length ? parts.join('; ') : 'nothing to trim'}`
}

/**
 * The report for people: a line per device (a skip says why), then, once
 * written, the total zeroed. `quiet` leaves out an EFI or TPM state disk
 * nothing was trimmed on: every UEFI VM has one, and "skipped" every night
 * in the task log says nothing (info --free-space still shows it).
 */
export function reportLines(r: TrimReport, zeroed?: Record<string, number>, quiet = false): string[] {
  if (r.reason) return [`nothing trimmed: ${r.reason}`]
  const disks = quiet ? r.disks.filter(d => !isStateDisk(d.name) || d.volumes.some(v => v.decision === 'trim')) : r.disks
  const lines = disks.map(d => summaryLine(d, zeroed ? (zeroed[d.name] ?? 0) : undefined))
  if (zeroed) {
    const total = Object.values(zeroed).reduce((a, b) => a + b, 0)
    lines.push(total > 0 ? `zeroed ${humanBytes(total)} of data the guests' filesystems declare free` : 'nothing zeroed: the declared-free space already held only zeros')
  }
  return lines
}
