// Which reader opens a volume: each is asked in turn; the first that
// recognises its filesystem answers. A reader that recognises its
// filesystem but finds it damaged throws (VMA_GUEST_DAMAGED) rather than
// letting another reader guess.

import type { VolumeReader } from '../trim/volume.js'
import { openExtFs } from './ext/ext-fs.js'
import type { GuestFs, GuestFsOpener } from './guest-fs.js'
import { openNtfsFs } from './ntfs/ntfs-fs.js'
import { openXfsFs } from './xfs/xfs-fs.js'

export const OPENERS: readonly GuestFsOpener[] = [openExtFs, openNtfsFs, openXfsFs]

/** The volume's filesystem opened, or undefined when no reader knows it. */
export async function openGuestFs(vol: VolumeReader, name: string): Promise<GuestFs | undefined> {
  for (const open of OPENERS) {
    const r = await open(vol, name)
    if ('fs' in r) return r.fs
  }
  return undefined
}
