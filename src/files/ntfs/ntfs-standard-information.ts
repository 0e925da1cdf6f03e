import type { Timestamp } from '../guest-fs.js'
import { ntfsTime } from './ntfs-time.js'

/** DOS/Windows file attribute bits ($STANDARD_INFORMATION 0x20, also in $FILE_NAME 0x38). */
export const FILE_ATTR = {
  readonly: 0x0001,
  system: 0x0004,
  reparsePoint: 0x0400,
  compressed: 0x0800,
  encrypted: 0x4000,
  /** Only in $FILE_NAME and index keys: the file has a $I30 index (a directory). */
  directory: 0x10000000,
} as const

/** $STANDARD_INFORMATION (attribute 0x10), the times and attribute bits every file has. */
export interface StandardInformation {
  created: Timestamp // 0x00 creation time
  modified: Timestamp // 0x08 data last altered
  changed: Timestamp // 0x10 MFT record last changed
  accessed: Timestamp // 0x18 last read
  attributes: number // 0x20 file attribute bits
}

/** Decodes the value; undefined when it is shorter than the 0x24 bytes of NTFS 1.2. */
export function readStandardInformation(v: Buffer): StandardInformation | undefined {
  if (v.length < 0x24) return undefined
  return {
    created: ntfsTime(v.readBigUInt64LE(0x00)),
    modified: ntfsTime(v.readBigUInt64LE(0x08)),
    changed: ntfsTime(v.readBigUInt64LE(0x10)),
    accessed: ntfsTime(v.readBigUInt64LE(0x18)),
    attributes: v.readUInt32LE(0x20),
  }
}
