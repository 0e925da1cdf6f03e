// How the NTFS file reader reports trouble. The trim's structure readers
// (trim/ntfs/) say "doubt" with NtfsSkip; for a reader of files that doubt is
// damage: it becomes a one-line VMA_GUEST_DAMAGED naming the volume, the MFT
// record and its volume offset. What the reader does not handle is
// VMA_GUEST_UNSUPPORTED.

import { NtfsSkip } from '../../trim/ntfs/ntfs-skip.js'
import { VmaError } from '../../util/errors.js'

/** Where a structure lives, for the message: `MFT record 42 at volume offset 3158016`. */
export interface Place {
  /** The volume's name as the caller gave it (`p2`, `vg/lv`). */
  volume: string
  record?: number
  offset?: number
}

const where = (p: Place) => `ntfs ${p.volume}${p.record !== undefined ? `: MFT record ${p.record}` : ''}${p.offset !== undefined ? ` at volume offset ${p.offset}` : ''}`

export const damaged = (p: Place, what: string) => new VmaError('VMA_GUEST_DAMAGED', -1, `${where(p)}: ${what}`)

export const unsupported = (p: Place, what: string) => new VmaError('VMA_GUEST_UNSUPPORTED', -1, `${where(p)}: ${what}`)

/** Throws VMA_GUEST_DAMAGED unless `ok`. */
export function check(ok: boolean, p: Place, what: string | (() => string)): asserts ok {
  if (!ok) throw damaged(p, typeof what === 'string' ? what : what())
}

/** Runs `fn`; an NtfsSkip from the trim's readers becomes VMA_GUEST_DAMAGED at `p`. */
export async function guarded<T>(p: Place, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (e) {
    throw translate(e, p)
  }
}

/** The same for synchronous parsers. */
export function guardedSync<T>(p: Place, fn: () => T): T {
  try {
    return fn()
  } catch (e) {
    throw translate(e, p)
  }
}

function translate(e: unknown, p: Place): unknown {
  if (!(e instanceof NtfsSkip)) return e
  // The trim names the record itself ("MFT record 42 ..."): keep its words after our place.
  const reason = p.record !== undefined ? e.reason.replace(new RegExp(`^MFT record ${p.record}:? ?`), '') : e.reason
  return / \(not handled\)$| not supported$/.test(reason) ? unsupported(p, reason) : damaged(p, reason)
}
