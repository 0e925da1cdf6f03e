// POSIX ACLs: XFS keeps them as the root-namespace attributes SGI_ACL_FILE and
// SGI_ACL_DEFAULT in its own format (xfs_acl, big-endian):
//   0x00 acl_cnt (u32), then per entry (12 bytes): ae_tag (u32)   ae_id (u32)   ae_perm (u16)   ae_pad (u16)
// The kernel shows them as system.posix_acl_access / _default in the xattr
// form (little-endian): a_version (u32 = 2), then per entry (8 bytes):
// e_tag (u16)   e_perm (u16)   e_id (u32; ACL_UNDEFINED_ID but for named users and groups).

import { check, type Where } from './xfs-damage.js'

export const ACL_NAMES: Record<string, string> = { SGI_ACL_FILE: 'system.posix_acl_access', SGI_ACL_DEFAULT: 'system.posix_acl_default' }

const TAG = { USER_OBJ: 0x01, USER: 0x02, GROUP_OBJ: 0x04, GROUP: 0x08, MASK: 0x10, OTHER: 0x20 }
const KNOWN = TAG.USER_OBJ | TAG.USER | TAG.GROUP_OBJ | TAG.GROUP | TAG.MASK | TAG.OTHER
const UNDEFINED_ID = 0xffffffff

/** The kernel xattr form of an XFS ACL value. */
export function aclToXattr(v: Buffer, w: Where): Buffer {
  check(v.length >= 4, w, `ACL of ${v.length} bytes`)
  const n = v.readUInt32BE(0)
  check(v.length === 4 + n * 12, w, `ACL of ${n} entries in ${v.length} bytes`)
  const out = Buffer.alloc(4 + n * 8)
  out.writeUInt32LE(2, 0)
  for (let i = 0; i < n; i++) {
    const tag = v.readUInt32BE(4 + i * 12)
    check(tag !== 0 && (tag & ~KNOWN) === 0 && (tag & (tag - 1)) === 0, w, `ACL entry ${i} has unknown tag 0x${tag.toString(16)}`)
    const named = tag === TAG.USER || tag === TAG.GROUP
    out.writeUInt16LE(tag, 4 + i * 8)
    out.writeUInt16LE(v.readUInt16BE(4 + i * 12 + 8) & 0o7, 4 + i * 8 + 2)
    out.writeUInt32LE(named ? v.readUInt32BE(4 + i * 12 + 4) : UNDEFINED_ID, 4 + i * 8 + 4)
  }
  return out
}
