// The two ways an ext2/3/4 read fails (files/guest-fs): a damaged structure
// (exit 1) or a feature the reader does not follow (exit 2). Each message is
// one line naming the filesystem kind, the inode when there is one, the
// structure and its volume byte offset.

import { VmaError } from '../../util/errors.js'
import { TrimSkip } from '../../trim/skip.js'

/** Where a problem lies: the inode (0: none) and the volume byte offset of the structure. */
export interface ExtPlace {
  kind: string
  ino: number
  offset: number
}

const prefix = (p: ExtPlace): string => `${p.kind}${p.ino ? ` inode ${p.ino}` : ''}`

export function damaged(p: ExtPlace, structure: string, problem: string): VmaError {
  return new VmaError('VMA_GUEST_DAMAGED', -1, `${prefix(p)}: ${structure} at volume offset ${p.offset} ${problem}`)
}

export function unsupported(kind: string, ino: number, what: string): VmaError {
  return new VmaError('VMA_GUEST_UNSUPPORTED', -1, `${prefix({ kind, ino, offset: 0 })} ${what}; cannot read it`)
}

/** Throws damaged(...) unless `cond` holds. */
export function check(cond: unknown, p: ExtPlace, structure: string, problem: string | (() => string)): asserts cond {
  if (!cond) throw damaged(p, structure, typeof problem === 'string' ? problem : problem())
}

/**
 * Runs a trim structure reader (which throws TrimSkip on a bad field) and
 * turns its complaint into a damaged-structure error at `p`.
 */
export async function viaTrim<T>(p: ExtPlace, structure: string, f: () => Promise<T> | T): Promise<T> {
  try {
    return await f()
  } catch (e) {
    if (e instanceof TrimSkip) throw damaged(p, structure, `is invalid: ${e.message}`)
    throw e
  }
}

/** Asked for something the inode is not (readdir of a file, readlink of a directory): exit 2. */
export function notA(kind: string, ino: number, what: string): VmaError {
  return new VmaError('VMA_NOT_FOUND', -1, `${kind} inode ${ino} is not a ${what}`)
}
