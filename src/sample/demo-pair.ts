import { join } from 'node:path'
import { writeSampleArchive } from './sample-archive.js'

/** The devices of the demo's guest: an EFI disk and two data disks. */
export const DEMO_DEVICES = [
  { name: 'drive-efidisk0', size: 540672 },
  { name: 'drive-scsi0', size: 48 << 20 },
  { name: 'drive-scsi1', size: 16 << 20 },
]

/**
 * Two nights of the demo's guest in `dir`, as vzdump names them: day 2 has
 * about 1% of drive-scsi0's clusters changed. The same pair every time.
 */
export async function writeDemoPair(dir: string): Promise<{ day1: string; day2: string }> {
  const day1 = join(dir, 'vzdump-qemu-100-2026_11_20-01_00_00.vma')
  const day2 = join(dir, 'vzdump-qemu-100-2026_11_21-01_00_00.vma')
  await writeSampleArchive(day1, { devices: DEMO_DEVICES, seed: 11, ctime: 1795136400 })
  await writeSampleArchive(day2, { devices: DEMO_DEVICES, seed: 11, orderSeed: 12, ctime: 1795222800, changed: (dev, c) => dev === 2 && c % 97 === 5 })
  return { day1, day2 }
}
