// The trim options shared by optimize, pack and info --free-space (the hook
// has the same in src/hook/hook-options.ts), and the trim report's lines.

import type { Argv } from 'yargs'
import { reportLines, type TrimReport } from '../trim/report.js'
import type { TrimOptions } from '../trim/volume.js'

export interface TrimArgs {
  trimJournal: 'strict' | 'union'
  trimLvmFree?: boolean
}

export function trimOptions<T>(y: Argv<T>) {
  return y
    .option('trim-journal', {
      choices: ['strict', 'union'] as const,
      default: 'strict' as const,
      describe: 'ext3/4 with a journal to replay (a live backup without the guest agent): strict leaves it alone; union trims it, keeping every block a journaled bitmap marks used',
    })
    .option('trim-lvm-free', { type: 'boolean', describe: 'also zero LVM physical extents no LV uses' })
}

export function trimOptionsFrom(a: TrimArgs): TrimOptions {
  return { journal: a.trimJournal ?? 'strict', lvmFree: !!a.trimLvmFree }
}

/** The trim report for people, each line prefixed "trim: "; `zeroed` per device once written (none when left unchanged). */
export function trimLines(r: TrimReport, zeroed: Record<string, number>): string[] {
  return reportLines(r, zeroed, true).map(l => `trim: ${l}`)
}
