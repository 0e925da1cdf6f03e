// A shortform attribute fork: the attributes inside the inode.
//   0x00 totsize (u16: bytes used, header included)   0x02 count (u8)   0x03 padding
//   then per entry: namelen (u8)   valuelen (u8)   flags (u8)   name[namelen]   value[valuelen]

import type { Xattr } from '../guest-fs.js'
import { shownXattr } from './xfs-attr-name.js'
import { check, type Where } from './xfs-damage.js'

export function shortformXattrs(fork: Buffer, w: Where): Xattr[] {
  check(fork.length >= 4, w, 'shortform attribute fork shorter than its header')
  const total = fork.readUInt16BE(0)
  const count = fork[2]!
  check(total >= 4 && total <= fork.length, w, `shortform attributes of ${total} bytes in a ${fork.length}-byte fork`)
  const out: Xattr[] = []
  let pos = 4
  for (let i = 0; i < count; i++) {
    check(pos + 3 <= total, w, `shortform attribute ${i} starts past the ${total} bytes`)
    const namelen = fork[pos]!
    const valuelen = fork[pos + 1]!
    const flags = fork[pos + 2]!
    const end = pos + 3 + namelen + valuelen
    check(end <= total, w, `shortform attribute ${i} runs past the ${total} bytes`)
    const name = fork.subarray(pos + 3, pos + 3 + namelen)
    out.push(...shownXattr(flags, name, Buffer.from(fork.subarray(pos + 3 + namelen, end)), w))
    pos = end
  }
  return out
}
