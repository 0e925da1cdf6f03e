// The two ways an XFS read fails (files/guest-fs): the structure is damaged
// (VMA_GUEST_DAMAGED, exit 1) or uses a feature this reader does not handle
// (VMA_GUEST_UNSUPPORTED, exit 2). One line, naming the volume, the inode and
// the volume byte offset of the structure.

import { VmaError } from '../../util/errors.js'

/** Where a problem is: the volume's name, the inode (if any), the byte offset in the volume. */
export interface Where {
  volume: string
  ino?: number
  offset: number
}

function line(w: Where, what: string): string {
  const ino = w.ino !== undefined ? `inode ${w.ino}: ` : ''
  return `xfs ${ino}${what} at volume offset ${w.offset}`
}

export function damaged(w: Where, what: string): VmaError {
  return new VmaError('VMA_GUEST_DAMAGED', -1, line(w, what), w.volume)
}

export function unsupported(w: Where, what: string): VmaError {
  return new VmaError('VMA_GUEST_UNSUPPORTED', -1, `xfs ${w.ino !== undefined ? `inode ${w.ino}: ` : ''}${what}; cannot read it`, w.volume)
}

/** Throws VMA_GUEST_DAMAGED unless `cond` holds. */
export function check(cond: unknown, w: Where, what: string | (() => string)): asserts cond {
  if (!cond) throw damaged(w, typeof what === 'string' ? what : what())
}
