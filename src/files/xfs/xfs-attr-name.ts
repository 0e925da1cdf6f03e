// An attribute's namespace flags (XFS_ATTR_ROOT, _SECURE, _PARENT) and name
// as getfattr shows them: root → trusted., secure → security., none → user.;
// the ACLs in the root namespace are shown twice, as the kernel lists them:
// trusted.SGI_ACL_* as stored, and system.posix_acl_* converted (xfs-acl.ts);
// parent pointers (metadata of the parent feature) are not attributes at all.

import type { Xattr } from '../guest-fs.js'
import { ACL_NAMES, aclToXattr } from './xfs-acl.js'
import { check, type Where } from './xfs-damage.js'

export const ATTR = { LOCAL: 0x1, ROOT: 0x2, SECURE: 0x4, PARENT: 0x8, INCOMPLETE: 0x80 }
/** XFS_XATTR_SIZE_MAX */
export const XATTR_SIZE_MAX = 65536

/** The attribute as the kernel shows it (none for a parent pointer or an unfinished one; two for an ACL). */
export function shownXattr(flags: number, name: Buffer, value: Buffer, w: Where): Xattr[] {
  if (flags & (ATTR.PARENT | ATTR.INCOMPLETE)) return []
  check(name.length > 0 && !name.includes(0), w, `attribute name of ${name.length} bytes with a NUL or empty`)
  check((flags & ATTR.ROOT) === 0 || (flags & ATTR.SECURE) === 0, w, `attribute "${name.toString('latin1')}" in two namespaces`)
  const n = name.toString('utf8')
  if (flags & ATTR.ROOT) {
    const acl = ACL_NAMES[n]
    const trusted = { name: `trusted.${n}`, value }
    return acl ? [trusted, { name: acl, value: aclToXattr(value, w) }] : [trusted]
  }
  if (flags & ATTR.SECURE) return [{ name: `security.${n}`, value }]
  return [{ name: `user.${n}`, value }]
}
