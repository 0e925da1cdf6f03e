// Shared by the trim memory tests: plans one sparse image made by a real mkfs
// and samples the RSS while planning; the growth over the RSS before planning
// is what the plan costs (tap's TypeScript loader makes the absolute RSS
// meaningless).
import type { Test } from 'tap'
import { closeSync, openSync, ftruncateSync } from 'node:fs'
import { join } from 'node:path'
import { planTrim } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import type { VolumeReport } from '../src/trim/report.js'
import type { Range } from '../src/trim/ranges.js'
import { run, skipHere } from './trim-helpers.js'

export const TiB = 2 ** 40

/**
 * Makes a sparse image of `size` bytes with `mkfs`, plans it; the image, the
 * volume, its ranges (counted, and listed with `keep`) and the RSS growth (or
 * undefined: skipped).
 */
export async function planSparse(t: Test, size: number, mkfs: string[], keep = false): Promise<{ img: string; v: VolumeReport; ranges: number; list: Range[]; grew: number } | undefined> {
  const img = join(t.testdir(), 'big.img')
  const fd = openSync(img, 'w')
  ftruncateSync(fd, size)
  closeSync(fd)
  const mk = run(mkfs[0]!, [...mkfs.slice(1), img])
  if (mk.status !== 0) {
    skipHere(t, `${mkfs[0]} on a sparse ${size}-byte file failed here: ${mk.out}`)
    return undefined
  }
  const disk = await openFileDisk(img, 'd')
  globalThis.gc?.()
  const before = process.memoryUsage().rss
  let peak = before
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2)
  const plan = await planTrim([disk], { journal: 'strict', lvmFree: false })
  let ranges = 0
  const list: Range[] = []
  for (const r of plan.freeRanges('d')) {
    ranges++
    if (keep) list.push(r)
  }
  clearInterval(sampler)
  peak = Math.max(peak, process.memoryUsage().rss)
  await disk.close()
  return { img, v: plan.report.disks[0]!.volumes[0]!, ranges, list, grew: peak - before }
}

export const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`
