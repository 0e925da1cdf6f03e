// An attribute's namespace flags (XFS_ATTR_ROOT, _SECURE, _PARENT) and name
// as getfattr shows them: root → trusted., secure → security., none → user.;
// the ACLs in the root namespace (SGI_ACL_FILE, SGI_ACL_DEFAULT) become
// system.posix_acl_* in the kernel's xattr form (xfs-acl.ts), once: the kernel
// also lists them raw as trusted.SGI_ACL_*, which a restore would write twice
// (and onto another filesystem as a stray attribute); parent pointers (metadata of the parent feature) are not attributes at all.

import type { Xattr } from '../guest-fs.js'
import { ACL_NAMES, aclToXattr } from './xfs-acl.js'
import { check, type Where } from './xfs-damage.js'

export const ATTR = { LOCAL: 0x1, ROOT: 0x2, SECURE: 0x4, PARENT: 0x8, INCOMPLETE: 0x80 }
/** XFS_XATTR_SIZE_MAX */
export const XATTR_SIZE_MAX = 65536

/** The attribute as the kernel shows it (none for a parent pointer or an unfinished one). */
export function shownXattr(flags: number, name: Buffer, value: Buffer, w: Where): Xattr[] {
  if (flags & (ATTR.PARENT | ATTR.INCOMPLETE)) return []
  check(name.length > 0 && !name.includes(0), w, `attribute name of ${name.length} bytes with a NUL or empty`)
  check((flags & ATTR.ROOT) === 0 || (flags & ATTR.SECURE) === 0, w, `attribute "${name.toString('latin1')}" in two namespaces`)
  const n = name.toString('utf8')
  if (flags & ATTR.ROOT) {
    const acl = ACL_NAMES[n]
    return [acl ? { name: acl, value: aclToXattr(value, w) } : { name: `trusted.${n}`, value }]
  }
  if (flags & ATTR.SECURE) return [{ name: `security.${n}`, value }]
  return [{ name: `user.${n}`, value }]
}
