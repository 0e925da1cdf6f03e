// $REPARSE_POINT (attribute 0xC0): a tag saying who interprets the file, and
// the tag's data. Symbolic links and junctions (mount points) are read as
// symlinks; every other tag (deduplication, WOF compression, OneDrive and
// other cloud files, ...) keeps the file's data elsewhere and is not read.

import { ensure } from '../../trim/ntfs/ntfs-skip.js'

export const REPARSE_TAG = { mountPoint: 0xa0000003, symlink: 0xa000000c } as const

/** Names of the tags the reader meets but cannot follow, for the message. */
const TAG_NAMES = new Map<number, string>([
  [0x80000013, 'IO_REPARSE_TAG_DEDUP'],
  [0x80000017, 'IO_REPARSE_TAG_WOF'],
  [0x80000014, 'IO_REPARSE_TAG_NFS'],
  [0x80000023, 'IO_REPARSE_TAG_AF_UNIX'],
  [0x8000001b, 'IO_REPARSE_TAG_APPEXECLINK'],
  [0x80000018, 'IO_REPARSE_TAG_WCI'],
  [0x9000001a, 'IO_REPARSE_TAG_CLOUD'],
  [0x80000019, 'IO_REPARSE_TAG_GLOBAL_REPARSE'],
  [0x8000000a, 'IO_REPARSE_TAG_DFS'],
  [0x80000012, 'IO_REPARSE_TAG_DFSR'],
  [0x8000000b, 'IO_REPARSE_TAG_FILTER_MANAGER'],
  [0xc0000004, 'IO_REPARSE_TAG_HSM'],
  [0x80000006, 'IO_REPARSE_TAG_HSM2'],
  [0x80000007, 'IO_REPARSE_TAG_SIS'],
])

/** `IO_REPARSE_TAG_WOF (0x80000017)`; cloud tags carry a variant in bits 12-15. */
export function tagName(tag: number): string {
  const name = TAG_NAMES.get(tag) ?? TAG_NAMES.get((tag & 0xffff0fff) >>> 0)
  const hex = `0x${tag.toString(16).padStart(8, '0')}`
  return name ? `${name} (${hex})` : `reparse tag ${hex}`
}

export interface ReparsePoint {
  tag: number
  /**
   * A symlink's or junction's target in UTF-16LE: the print name (what
   * Windows shows), else the substitute name without its `\??\` prefix.
   */
  target?: Buffer
  /** A symlink relative to its directory (flag 1 of a symlink): its `\` become `/`. */
  relative: boolean
}

/** Decodes the value of $REPARSE_POINT (throws NtfsSkip when it does not hold together). */
export function readReparsePoint(v: Buffer): ReparsePoint {
  ensure(v.length >= 8, `$REPARSE_POINT of ${v.length} bytes`)
  const tag = v.readUInt32LE(0x00) // 0x00 reparse tag
  const dataLength = v.readUInt16LE(0x04) // 0x04 data length (0x06 reserved)
  ensure(8 + dataLength <= v.length, `$REPARSE_POINT data (${dataLength} bytes) longer than its attribute`)
  if (tag !== REPARSE_TAG.symlink && tag !== REPARSE_TAG.mountPoint) return { tag, relative: false }
  const d = v.subarray(8, 8 + dataLength)
  const pathStart = tag === REPARSE_TAG.symlink ? 0x0c : 0x08 // a symlink has 4 bytes of flags at 0x08
  ensure(d.length >= pathStart, `${tagName(tag)} data too short`)
  const substOffset = d.readUInt16LE(0x00) // 0x00 substitute name offset (in the path buffer)
  const substLength = d.readUInt16LE(0x02) // 0x02 substitute name bytes
  const printOffset = d.readUInt16LE(0x04) // 0x04 print name offset
  const printLength = d.readUInt16LE(0x06) // 0x06 print name bytes
  const relative = tag === REPARSE_TAG.symlink && (d.readUInt32LE(0x08) & 1) === 1 // 0x08 flags: 1 relative
  const name = (offset: number, length: number) => {
    ensure(length % 2 === 0 && pathStart + offset + length <= d.length, `${tagName(tag)} name outside its data`)
    return d.subarray(pathStart + offset, pathStart + offset + length)
  }
  let target = name(printOffset, printLength)
  if (target.length === 0) {
    target = name(substOffset, substLength)
    if (target.subarray(0, 8).equals(NT_PREFIX)) target = target.subarray(8)
  }
  ensure(target.length > 0, `${tagName(tag)} without a target`)
  return { tag, target, relative }
}

const NT_PREFIX = Buffer.from('\\??\\', 'utf16le')
