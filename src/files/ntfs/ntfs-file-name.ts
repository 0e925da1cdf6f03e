// $FILE_NAME (attribute 0x30), also the key of every $I30 index entry: the
// parent directory, the name and its namespace. A file has one per hard link,
// plus a DOS 8.3 alias when its long name is not a valid 8.3 name.

/** Name namespaces (0x41). */
export const NAMESPACE = { posix: 0, win32: 1, dos: 2, win32AndDos: 3 } as const

export interface FileName {
  /** MFT reference of the parent directory (record number in the low 48 bits). */
  parent: bigint // 0x00
  /** File attribute bits as of the last name change (FILE_ATTR; directory bit 0x10000000). */
  attributes: number // 0x38
  namespace: number // 0x41
  /** The name as UTF-16LE code units (0x42, 0x40 units). */
  utf16: Buffer
}

/** Decodes a $FILE_NAME value or index key; undefined if it is too short for its name. */
export function readFileName(v: Buffer): FileName | undefined {
  if (v.length < 0x42) return undefined
  const units = v[0x40]! // 0x40 name length in UTF-16 units
  if (0x42 + 2 * units > v.length) return undefined
  return { parent: v.readBigUInt64LE(0x00), attributes: v.readUInt32LE(0x38), namespace: v[0x41]!, utf16: v.subarray(0x42, 0x42 + 2 * units) }
}

/** A DOS-only alias: the same file also has a Win32 name, which is the one to show. */
export const isDosAlias = (n: FileName) => n.namespace === NAMESPACE.dos

/**
 * UTF-16LE to UTF-8 bytes. NTFS names are sequences of 16-bit units that need
 * not be valid UTF-16: an unpaired surrogate is encoded as its own 3-byte
 * sequence (WTF-8, as Rust's OsString does for Windows names), so every name
 * maps to distinct bytes and back; no name is refused or merged with another.
 */
export function utf16ToUtf8(u: Buffer): Buffer {
  const out = Buffer.allocUnsafe((u.length >> 1) * 3)
  let o = 0
  for (let i = 0; i + 1 < u.length; i += 2) {
    let c = u.readUInt16LE(i)
    if (c >= 0xd800 && c <= 0xdbff && i + 3 < u.length) {
      const lo = u.readUInt16LE(i + 2)
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00)
        i += 2
      }
    }
    if (c < 0x80) out[o++] = c
    else if (c < 0x800) {
      out[o++] = 0xc0 | (c >> 6)
      out[o++] = 0x80 | (c & 0x3f)
    } else if (c < 0x10000) {
      out[o++] = 0xe0 | (c >> 12)
      out[o++] = 0x80 | ((c >> 6) & 0x3f)
      out[o++] = 0x80 | (c & 0x3f)
    } else {
      out[o++] = 0xf0 | (c >> 18)
      out[o++] = 0x80 | ((c >> 12) & 0x3f)
      out[o++] = 0x80 | ((c >> 6) & 0x3f)
      out[o++] = 0x80 | (c & 0x3f)
    }
  }
  return Buffer.from(out.subarray(0, o))
}
