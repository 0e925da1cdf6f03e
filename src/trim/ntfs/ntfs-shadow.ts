import { NtfsSkip } from './ntfs-skip.js'
import type { VolumeReader } from '../volume.js'

/**
 * Volume Shadow Copies (VSS, "previous versions", System Restore): Windows
 * copies a cluster's old contents into the shadow copy store only when the
 * cluster is overwritten, not when it is freed. A cluster freed after a
 * snapshot is free in $Bitmap but still holds data the snapshot reads, so a
 * volume with shadow copies is not trimmed. The VSS volume header sits at
 * byte 0x1E00 of the volume (inside $Boot); a non-zero catalog offset means a
 * snapshot catalog exists. Layout as documented by libvshadow.
 */
const VSS_HEADER_OFFSET = 0x1e00
const VSS_IDENTIFIER = Buffer.from('6b87083876c1484eb7ae04046e6cc752', 'hex')

/** A description for the report; throws NtfsSkip when the volume has a shadow copy catalog. */
export async function checkShadowCopies(vol: VolumeReader): Promise<string> {
  const header = Buffer.alloc(0x40)
  await vol.read(header, VSS_HEADER_OFFSET)
  if (!header.subarray(0, 16).equals(VSS_IDENTIFIER)) return 'none'
  const recordType = header.readUInt32LE(0x14) // 0x14 record type (1 = volume header)
  const catalogOffset = header.readBigUInt64LE(0x30) // 0x30 catalog offset, 0 when there is no catalog
  if (recordType === 1 && catalogOffset === 0n) return 'VSS volume header without a catalog'
  throw new NtfsSkip(`volume has Volume Shadow Copies (VSS catalog at ${catalogOffset}): freed clusters may still hold snapshot data`)
}
