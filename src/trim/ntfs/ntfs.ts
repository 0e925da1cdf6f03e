import { ATTR, plainData } from './ntfs-attribute.js'
import { checkMarkedUsed, countFree, readClusterBitmap, streamClusters } from './ntfs-bitmap.js'
import { isBitLocker, isNtfsBoot, readNtfsBoot } from './ntfs-boot.js'
import { checkHiberfil } from './ntfs-hiberfil.js'
import { checkLogFile } from './ntfs-logfile.js'
import { checkShadowCopies } from './ntfs-shadow.js'
import { MFT_RECORD } from './ntfs-record.js'
import { NtfsSkip, ensure } from './ntfs-skip.js'
import { NtfsVolume } from './ntfs-volume.js'
import type { FilesystemReader, VolumeReader, VolumeVerdict } from '../volume.js'

export { isBitLocker, isExFat, isNtfsBoot, isReFS } from './ntfs-boot.js'

/** $VOLUME_INFORMATION flags that mean the volume must be checked before it is trusted. */
const VOLUME_IS_DIRTY = 0x0001
const CHKDSK_UNDERWAY = 0x4000

/** $Volume (record 3): label, version and flags. */
export async function readVolumeInfo(ntfs: NtfsVolume) {
  const attrs = ntfs.attributes(await ntfs.baseRecord(MFT_RECORD.volume, '$Volume'))
  const nameAttr = attrs.find(a => a.type === ATTR.volumeName)
  const label = nameAttr?.resident && nameAttr.value.length > 0 ? nameAttr.value.toString('utf16le') : undefined
  const info = attrs.find(a => a.type === ATTR.volumeInformation)
  if (info === undefined || !info.resident || info.value.length < 12) return { label }
  const major = info.value[0x08]! // 0x08 major version
  const minor = info.value[0x09]! // 0x09 minor version
  const flags = info.value.readUInt16LE(0x0a) // 0x0A volume flags
  return { label, major, minor, flags }
}

/** The volume must be a version we know, not dirty and not being checked. */
function checkVolumeInfo(v: Awaited<ReturnType<typeof readVolumeInfo>>, facts: Record<string, unknown>): void {
  ensure(v.flags !== undefined, '$Volume has no $VOLUME_INFORMATION')
  Object.assign(facts, { version: `${v.major}.${v.minor}`, volumeFlags: `0x${v.flags.toString(16)}` })
  ensure((v.major === 3 && v.minor! <= 1) || (v.major === 1 && v.minor === 2), `NTFS version ${v.major}.${v.minor} not supported`)
  ensure((v.flags & VOLUME_IS_DIRTY) === 0, 'NTFS $Volume has VOLUME_IS_DIRTY')
  ensure((v.flags & CHKDSK_UNDERWAY) === 0, 'NTFS $Volume has CHKDSK_UNDERWAY')
}

/** What is known so far, for the skip verdict when a later check fails. */
interface Findings {
  label?: string
  details: Record<string, unknown>
}

async function analyse(vol: VolumeReader, sector: Buffer, found: Findings): Promise<VolumeVerdict> {
  const facts = found.details
  const boot = readNtfsBoot(sector, vol.size)
  Object.assign(facts, { clusterSize: boot.clusterSize, clusters: boot.clusters, mftRecordSize: boot.mftRecordSize })
  const ntfs = await NtfsVolume.open(vol, boot)
  facts.mftFragments = ntfs.mft.runs.length
  const volumeInfo = await readVolumeInfo(ntfs)
  const label = (found.label = volumeInfo.label)
  checkVolumeInfo(volumeInfo, facts)
  const mirr = plainData(ntfs.attributes(await ntfs.baseRecord(MFT_RECORD.mftMirr, '$MFTMirr')), '$MFTMirr')
  ensure(!mirr.resident && mirr.runs[0]?.lcn === boot.mftMirrLcn, '$MFTMirr does not start at the cluster the boot sector names')
  const log = plainData(ntfs.attributes(await ntfs.baseRecord(MFT_RECORD.logFile, '$LogFile')), '$LogFile')
  facts.logFile = await checkLogFile(ntfs, log)
  facts.hiberfil = await checkHiberfil(ntfs)
  facts.shadowCopies = await checkShadowCopies(vol)
  const bitmapAttr = plainData(ntfs.attributes(await ntfs.baseRecord(MFT_RECORD.bitmap, '$Bitmap')), '$Bitmap')
  const used = await readClusterBitmap(ntfs, bitmapAttr)
  checkMarkedUsed(ntfs, used, [
    ['$MFT', streamClusters(ntfs.mft)],
    ['$MFTMirr', streamClusters(mirr)],
    ['$LogFile', streamClusters(log)],
    ['$Bitmap', streamClusters(bitmapAttr)],
  ])
  // The backup boot sector follows the last cluster; a free cluster can never cover it.
  ensure(boot.clusters * boot.clusterSize <= boot.backupBootOffset, 'backup boot sector inside the cluster area')
  const freeBytes = countFree(used, boot.clusters) * boot.clusterSize
  return { decision: 'trim', kind: 'ntfs', label, map: { unit: boot.clusterSize, first: 0, units: boot.clusters, used }, freeBytes, details: facts }
}

/**
 * The NTFS reader: `undefined` when the volume's first sector is not NTFS (or
 * BitLocker), else a verdict. Free clusters come from $Bitmap; the volume is
 * trimmed only when it is clean ($Volume flags, $LogFile, no hibernation image,
 * no shadow copies) and every structure on the way checks out. Any doubt is a skip with its reason.
 */
export const readNtfs: FilesystemReader = async vol => {
  if (vol.size < 1024) return undefined
  const sector = Buffer.alloc(512)
  await vol.read(sector, 0)
  if (isBitLocker(sector)) return { decision: 'skip', kind: 'bitlocker', reason: 'BitLocker-encrypted volume (-FVE-FS-): contents unreadable' }
  if (!isNtfsBoot(sector)) return undefined
  const found: Findings = { details: {} }
  try {
    return await analyse(vol, sector, found)
  } catch (e) {
    if (!(e instanceof NtfsSkip)) throw e
    return { decision: 'skip', kind: 'ntfs', ...(found.label !== undefined && { label: found.label }), reason: e.reason, details: found.details }
  }
}
