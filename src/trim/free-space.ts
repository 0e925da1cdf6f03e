// `vma-opt info --free-space`: the trim's dry run. Plans the trim of every
// device exactly as optimize --trim would, then reads the declared-free
// ranges (and nothing else besides the metadata) to say how many of those
// bytes are non-zero today, per volume: what --trim would zero. Writes
// nothing; a compressed or piped input is spooled for random access.

import { tmpdir } from 'node:os'
import { indexArchive } from '../archive/index-archive.js'
import { openInput, type OpenOptions } from '../input/archive-input.js'
import { ArchiveDisk } from './disk/archive-disk.js'
import { countNonZero, planTrim } from './plan.js'
import type { TrimReport, VolumeReport } from './report.js'
import type { TrimOptions } from './volume.js'

export interface FreeSpaceOptions extends OpenOptions {
  trim: TrimOptions
  tmpdir?: string
  progress?: (bytes: number) => void
}

export type FreeSpaceVolume = VolumeReport & { nonZeroFreeBytes: number }

export interface FreeSpaceReport extends Omit<TrimReport, 'disks'> {
  file: string
  /** The input had to be spooled to a temp file for random access. */
  spooled: boolean
  disks: (Omit<TrimReport['disks'][number], 'volumes'> & { volumes: FreeSpaceVolume[]; nonZeroFreeBytes: number })[]
  /** What --trim would zero: declared-free bytes that are not zero today. */
  nonZeroFreeBytes: number
}

export async function inspectFreeSpace(src: string, o: FreeSpaceOptions): Promise<FreeSpaceReport> {
  const input = await openInput(src, o)
  try {
    const spooled = !input.file
    const idx = await indexArchive(input, { spoolDir: o.tmpdir ?? tmpdir(), progress: o.progress })
    try {
      const disks = new Map(idx.header.deviceList.map(d => [d.name, new ArchiveDisk(idx.file, idx.index, d)]))
      const plan = await planTrim([...disks.values()], o.trim)
      const report: FreeSpaceReport = { ...plan.report, file: input.label, spooled, disks: [], nonZeroFreeBytes: 0 }
      for (const d of plan.report.disks) {
        const volumes: FreeSpaceVolume[] = []
        for (const v of d.volumes) {
          let nonZeroFreeBytes = 0
          if (v.decision === 'trim' && v.freeBytes > 0) {
            // the volume's own free ranges: an interval of the disk would also count the LVs that lie between free extents
            for (const [disk, r] of plan.volumeFreeRanges(d.name, v.id)) {
              nonZeroFreeBytes += await countNonZero([r], (buf, off) => disks.get(disk)!.read(buf, off))
            }
          }
          volumes.push({ ...v, nonZeroFreeBytes })
        }
        const nz = volumes.reduce((a, v) => a + v.nonZeroFreeBytes, 0)
        report.disks.push({ ...d, volumes, nonZeroFreeBytes: nz })
        report.nonZeroFreeBytes += nz
      }
      return report
    } finally {
      await idx.release()
    }
  } finally {
    await input.close()
  }
}
