// A partition table counts logical sectors, and a VMA does not record the
// guest disk's sector size: a 4Kn disk (4096-byte logical sectors) has its
// GPT header at 4096 and its MBR entries in 4 KiB units. Read with 512-byte
// sectors, a 4Kn MBR puts every partition at an eighth of its offset, inside
// what is really the first partition. So before an MBR is read with 512-byte
// sectors, the 4096-byte reading is tried too: when every primary entry also
// fits the disk in 4 KiB units and a partition so read holds a signature,
// the disk has two readings and is left alone. A GPT header found for both
// sizes is a doubt as well; one found only at 4096 is read with 4096-byte
// sectors (the header and entries then agree with each other).

import type { TrimDisk } from './disk/disk.js'
import { linearLayout, volumeReader } from './layout.js'
import { readMbr } from './partitions/mbr.js'
import { findSignatures } from './signatures.js'

const KN = 4096

/** Why an MBR disk may be a 4Kn disk, or undefined when the 512-byte reading is the only one. */
export async function mbrSectorDoubt(disk: TrimDisk): Promise<string | undefined> {
  const wide = await readMbr(disk, KN)
  if (!wide) return undefined
  // Primary entries past the end make the 4096-byte reading impossible (a 512-byte disk that fills itself).
  if ([...wide.partitions, ...wide.containers, ...wide.rejected].some(p => p.start + p.size > disk.size)) return undefined
  const disks = new Map([[disk.name, disk]])
  for (const p of wide.partitions) {
    const sigs = await findSignatures(volumeReader(linearLayout(p.id, disk.name, p.start, p.size), disks))
    if (sigs.length > 0) {
      return `an MBR whose entries also fit the disk in 4096-byte sectors, where ${p.id} (at ${p.start}) holds ${sigs[0]!.what}: a 4Kn disk? (the archive does not record the sector size): ambiguous, skipped`
    }
  }
  return undefined
}

/** Why a disk whose LBA 1 reads "EFI PART" for both sector sizes is not read. */
export function gptSectorDoubt(sizes: number[]): string | undefined {
  return sizes.length > 1 ? 'GPT headers at 512 (512-byte sectors) and at 4096 (4096-byte sectors): ambiguous, skipped' : undefined
}
