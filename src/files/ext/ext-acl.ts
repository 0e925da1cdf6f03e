// POSIX ACLs as ext2/3/4 store them (e_name_index 2 access, 3 default) and as
// the kernel hands them to getfattr (system.posix_acl_*):
//   ext4 on disk: u32 a_version 1, then entries e_tag u16, e_perm u16, and e_id u32
//                 only for ACL_USER (2) and ACL_GROUP (8) (the others are 4 bytes)
//   xattr form:   u32 a_version 2, then 8-byte entries e_tag u16, e_perm u16, e_id u32
//                 (0xFFFFFFFF, ACL_UNDEFINED_ID, for the owner, group-owner, mask and other entries)

import { type ExtPlace, check } from './ext-errors.js'

const USER = 0x02
const GROUP = 0x08
const KNOWN = new Set([0x01, USER, 0x04, GROUP, 0x10, 0x20])

/** The kernel's xattr form of an ext4 on-disk ACL. */
export function aclToXattr(disk: Buffer, p: ExtPlace): Buffer {
  check(disk.length >= 4 && disk.readUInt32LE(0) === 1, p, 'POSIX ACL', `has ${disk.length < 4 ? 'no header' : `version ${disk.readUInt32LE(0)}, not 1`}`)
  // at most one output entry per 4 input bytes: the output is bounded by the value
  const out = Buffer.alloc(4 + 2 * (disk.length - 4))
  out.writeUInt32LE(2, 0)
  let o = 4
  let w = 4
  while (o < disk.length) {
    check(o + 4 <= disk.length, p, 'POSIX ACL', `entry at byte ${o} is cut short`)
    const tag = disk.readUInt16LE(o)
    check(KNOWN.has(tag), p, 'POSIX ACL', `entry at byte ${o} has unknown tag 0x${tag.toString(16)}`)
    const long = tag === USER || tag === GROUP
    check(!long || o + 8 <= disk.length, p, 'POSIX ACL', `entry at byte ${o} is cut short`)
    out.writeUInt16LE(tag, w)
    out.writeUInt16LE(disk.readUInt16LE(o + 2), w + 2)
    out.writeUInt32LE(long ? disk.readUInt32LE(o + 4) : 0xffffffff, w + 4)
    o += long ? 8 : 4
    w += 8
  }
  return out.subarray(0, w)
}
