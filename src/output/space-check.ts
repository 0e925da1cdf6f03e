// The up-front free-space check (spec/cli.md "Free space"): before an
// operation writes its output, the size the output can reach is compared
// with the free space of the destination's filesystem, and a run that
// clearly cannot fit is refused at once (VMA_NO_SPACE), before any temp file
// exists, instead of failing with ENOSPC after minutes of work. A figure that
// cannot be known up front (stdin, a pipe, stdout) is not checked: ENOSPC
// is still handled as before. --no-space-check skips it.

import { statfs } from 'node:fs/promises'
import { dirname } from 'node:path'
import { BLOCK_SIZE, EXTENT_HEADER_SIZE, MAX_HEADER_SIZE, SLOTS_PER_EXTENT } from '../format/constants.js'
import { VmaError } from '../util/errors.js'
import { bytesWithHuman } from '../util/human.js'

/**
 * Most bytes of a plain archive in the optimized form: the header (at most
 * MAX_HEADER_SIZE, or `headerBytes` when known), one extent header for every
 * 59 clusters listed (plus one per device, whose last extent may be short)
 * and every stored 4 KiB block. Compressed output is almost always smaller:
 * for it this bound is conservative.
 */
export function archiveBound(a: { clusters: number; storedBlocks: number; devices: number; headerBytes?: number }): number {
  const extents = Math.ceil(a.clusters / SLOTS_PER_EXTENT) + a.devices
  return (a.headerBytes ?? MAX_HEADER_SIZE) + extents * EXTENT_HEADER_SIZE + a.storedBlocks * BLOCK_SIZE
}

/**
 * Bytes free on the filesystem of `dir` for this process (root may use the
 * blocks reserved for it) and the directory asked, or undefined when it
 * cannot be asked. A directory still to be made (unpack's DIR) is on its
 * nearest existing parent's.
 */
export async function freeBytes(dir: string): Promise<{ free: number; at: string } | undefined> {
  for (let at = dir; ; at = dirname(at)) {
    try {
      const s = await statfs(at)
      return { free: (process.getuid?.() === 0 ? s.bfree : s.bavail) * s.bsize, at }
    } catch (e) {
      // Anything but a missing directory fails later, with its own message.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(at) === at) return undefined
    }
  }
}

/**
 * Refuses with VMA_NO_SPACE when `bytes` do not fit in the free space of
 * the filesystem holding `dir` (by default the destination's directory,
 * where the temp file is written and renamed). The message is one line
 * naming the destination, the bytes needed and the bytes free.
 */
export async function checkSpace(dest: string, bytes: number, o: { dir?: string; what?: string } = {}): Promise<void> {
  const f = await freeBytes(o.dir ?? dirname(dest))
  if (!f || bytes <= f.free) return
  const e = new VmaError(
    'VMA_NO_SPACE',
    -1,
    `needs ${bytesWithHuman(bytes)}, ${o.what ?? 'an upper bound of the output'}; ${f.at} has ${bytesWithHuman(f.free)} free; nothing was written (--no-space-check tries anyway)`,
  )
  e.file = dest
  throw e
}
