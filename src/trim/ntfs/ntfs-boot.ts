import { NtfsSkip, ensure } from './ntfs-skip.js'

/** Signatures at offset 3 of a volume's first sector (the OEM id of a Windows boot sector). */
const OEM_NTFS = 'NTFS    '
const OEM_BITLOCKER = '-FVE-FS-'
const OEM_EXFAT = 'EXFAT   '
const OEM_REFS = 'ReFS\0\0\0\0'

const oem = (sector: Uint8Array) => Buffer.from(sector.buffer, sector.byteOffset, sector.byteLength).toString('latin1', 3, 11)

/** The first sector of an NTFS volume (the OEM id only; readNtfsBoot checks the rest). */
export const isNtfsBoot = (sector: Uint8Array): boolean => sector.length >= 512 && oem(sector) === OEM_NTFS

/** A BitLocker-encrypted volume (Vista and later): the boot sector's OEM id is `-FVE-FS-`. */
export const isBitLocker = (sector: Uint8Array): boolean => sector.length >= 512 && oem(sector) === OEM_BITLOCKER

/** exFAT (not handled by the trim: report it by name). */
export const isExFat = (sector: Uint8Array): boolean => sector.length >= 512 && oem(sector) === OEM_EXFAT

/** ReFS (not handled by the trim: report it by name). */
export const isReFS = (sector: Uint8Array): boolean => sector.length >= 512 && oem(sector) === OEM_REFS

/** What the reader needs from the NTFS boot sector ($Boot, sector 0 of the volume). */
export interface NtfsBoot {
  bytesPerSector: number
  clusterSize: number
  /** Sectors of the volume, not counting the backup boot sector that follows them. */
  totalSectors: number
  /** floor(totalSectors / sectors per cluster): the units of $Bitmap. */
  clusters: number
  mftLcn: number
  mftMirrLcn: number
  mftRecordSize: number
  indexBlockSize: number
  /** Volume offset of the backup boot sector (the sector right after the volume). */
  backupBootOffset: number
}

/** Largest cluster Windows formats (2 MiB); anything beyond is not a volume we trust. */
const MAX_CLUSTER = 2 * 1024 * 1024

/** Sectors per cluster (0x0D): 1..128, or 0xF4..0xFF meaning 2^(256 - v) for the large clusters. */
function sectorsPerCluster(v: number): number {
  if (v >= 1 && v <= 0x80 && (v & (v - 1)) === 0) return v
  if (v >= 0xf4) return 2 ** (256 - v)
  throw new NtfsSkip(`NTFS boot sector: sectors per cluster byte ${v} is not valid`)
}

/** Clusters per MFT record / index block (s8): positive = clusters, negative = 2^-v bytes. */
function recordSize(v: number, clusterSize: number, what: string): number {
  const size = v > 0 ? v * clusterSize : 2 ** -v
  ensure(v !== 0 && size >= 512 && size <= 65536 && (size & (size - 1)) === 0, `NTFS boot sector: ${what} size ${size} is not valid`)
  return size
}

/** Reads and checks the boot sector; `sector` holds at least the first 512 bytes, `volumeSize` is the container. */
export function readNtfsBoot(sector: Buffer, volumeSize: number): NtfsBoot {
  ensure(sector.readUInt16LE(0x1fe) === 0xaa55, 'NTFS boot sector without the 55 AA signature')
  // The FAT fields of the BIOS parameter block are zero on NTFS (Windows and mkntfs write them so).
  const fatFields = [
    sector.readUInt16LE(0x0e), // 0x0E reserved sectors
    sector[0x10]!, // 0x10 number of FATs
    sector.readUInt16LE(0x11), // 0x11 root directory entries
    sector.readUInt16LE(0x13), // 0x13 16-bit sector count
    sector.readUInt16LE(0x16), // 0x16 sectors per FAT
    sector.readUInt32LE(0x20), // 0x20 32-bit sector count
  ]
  ensure(
    fatFields.every(v => v === 0),
    'NTFS boot sector has non-zero FAT fields: not a plausible NTFS volume',
  )
  const bytesPerSector = sector.readUInt16LE(0x0b) // 0x0B bytes per sector
  ensure([512, 1024, 2048, 4096].includes(bytesPerSector), `NTFS boot sector: ${bytesPerSector} bytes per sector`)
  const spc = sectorsPerCluster(sector[0x0d]!) // 0x0D sectors per cluster
  const clusterSize = bytesPerSector * spc
  ensure(clusterSize <= MAX_CLUSTER, `NTFS cluster size ${clusterSize} is over 2 MiB`)
  const totalSectors = Number(sector.readBigUInt64LE(0x28)) // 0x28 total sectors (backup boot sector excluded)
  const mftLcn = Number(sector.readBigUInt64LE(0x30)) // 0x30 $MFT first cluster
  const mftMirrLcn = Number(sector.readBigUInt64LE(0x38)) // 0x38 $MFTMirr first cluster
  const mftRecordSize = recordSize(sector.readInt8(0x40), clusterSize, 'MFT record') // 0x40 clusters per MFT record
  const indexBlockSize = recordSize(sector.readInt8(0x44), clusterSize, 'index block') // 0x44 clusters per index block
  ensure(totalSectors > 0 && totalSectors <= Number.MAX_SAFE_INTEGER / bytesPerSector, 'NTFS boot sector: total sectors out of range')
  const backupBootOffset = totalSectors * bytesPerSector
  ensure(backupBootOffset + bytesPerSector <= volumeSize, () => `NTFS volume (${backupBootOffset} bytes + backup boot sector) is larger than its container (${volumeSize} bytes)`)
  const clusters = Math.floor(totalSectors / spc)
  ensure(clusters > 0, 'NTFS volume has no clusters')
  ensure(mftLcn < clusters && mftMirrLcn < clusters, 'NTFS boot sector: $MFT or $MFTMirr outside the volume')
  return { bytesPerSector, clusterSize, totalSectors, clusters, mftLcn, mftMirrLcn, mftRecordSize, indexBlockSize, backupBootOffset }
}
