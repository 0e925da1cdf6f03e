// The trim options shared by optimize, pack and info --free-space, and the
// trim report for people: one line per device, with the reason for every
// volume left alone.

import type { Argv } from 'yargs'
import { summaryLine, type TrimReport } from '../trim/report.js'
import type { TrimOptions } from '../trim/volume.js'
import { humanBytes } from '../util/human.js'

export interface TrimArgs {
  trimJournal: 'strict' | 'union'
  trimLvmFree?: boolean
}

export function trimOptions<T>(y: Argv<T>): Argv<T & TrimArgs> {
  return y
    .option('trim-journal', {
      choices: ['strict', 'union'] as const,
      default: 'strict' as const,
      describe: 'ext3/4 with a journal to replay (a live backup without the guest agent): strict leaves it alone; union trims it, keeping every block a journaled bitmap marks used',
    })
    .option('trim-lvm-free', { type: 'boolean', describe: 'also zero LVM physical extents no LV uses' }) as unknown as Argv<T & TrimArgs>
}

export function trimOptionsFrom(a: TrimArgs): TrimOptions {
  return { journal: a.trimJournal ?? 'strict', lvmFree: !!a.trimLvmFree }
}

/** "drive-scsi0: p1 ext4 trimmed 44.0 MiB; p2 swap trimmed 64.0 MiB; p3 skipped: LUKS", one per device. */
export function trimLines(r: TrimReport): string[] {
  if (r.reason) return [`trim: nothing trimmed: ${r.reason}`]
  const lines = r.disks.map(d => `trim: ${summaryLine(d)}`)
  if (r.disks.some(d => d.volumes.some(v => v.decision === 'skip' && /journal/.test(v.reason ?? '') && /replay|recovery|transaction/.test(v.reason ?? '')))) {
    lines.push('trim: a volume was skipped because its journal holds transactions to replay (a live backup without the QEMU guest agent); --trim-journal union trims it safely, or enable the guest agent so vzdump freezes the filesystems')
  }
  lines.push(`trim: ${humanBytes(r.freeBytes)} declared free in trimmed volumes`)
  return lines
}
