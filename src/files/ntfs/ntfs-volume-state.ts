// Was the volume closed cleanly? ntfs-3g refuses to mount read-write a volume
// that is hibernated, in Windows' fast-startup state, marked dirty or whose
// $LogFile still holds changes to replay: the on-disk structures may lag what
// Windows last saw. The file reader still reads what they say, and the user
// is told in one line that recent changes may be missing. The checks are the
// trim's (trim/ntfs/), which are stricter still: they refuse such a volume.

import { plainData } from '../../trim/ntfs/ntfs-attribute.js'
import { checkHiberfil } from '../../trim/ntfs/ntfs-hiberfil.js'
import { checkLogFile } from '../../trim/ntfs/ntfs-logfile.js'
import { MFT_RECORD } from '../../trim/ntfs/ntfs-record.js'
import { NtfsSkip } from '../../trim/ntfs/ntfs-skip.js'
import type { NtfsVolume } from '../../trim/ntfs/ntfs-volume.js'

/** $VOLUME_INFORMATION flags (0x0A) that mean the volume was not closed cleanly. */
const VOLUME_IS_DIRTY = 0x0001
const CHKDSK_UNDERWAY = 0x4000

/** Why the volume may not be in its last state (empty when it was closed cleanly). */
export async function uncleanReasons(ntfs: NtfsVolume, volumeFlags: number | undefined): Promise<string[]> {
  const reasons: string[] = []
  if (volumeFlags !== undefined && (volumeFlags & VOLUME_IS_DIRTY) !== 0) reasons.push('$Volume is marked dirty')
  if (volumeFlags !== undefined && (volumeFlags & CHKDSK_UNDERWAY) !== 0) reasons.push('$Volume says chkdsk is under way')
  const doubt = async (what: string, check: () => Promise<unknown>) => {
    try {
      await check()
    } catch (e) {
      if (!(e instanceof NtfsSkip)) throw e
      // The trim's lookup of hiberfil.sys does not walk a root spread by an attribute list: that is no sign of an unclean volume.
      if (!/\(not handled\)$/.test(e.reason)) reasons.push(`${what}: ${e.reason}`)
    }
  }
  await doubt('$LogFile', async () => checkLogFile(ntfs, plainData(ntfs.attributes(await ntfs.baseRecord(MFT_RECORD.logFile, '$LogFile')), '$LogFile')))
  await doubt('hiberfil.sys', async () => checkHiberfil(ntfs))
  return reasons
}

/** The one warning line, or none. */
export const uncleanWarning = (reasons: string[]): string[] => (reasons.length === 0 ? [] : [`the NTFS volume was not closed cleanly (${reasons.join('; ')}): recent changes may be missing`])
