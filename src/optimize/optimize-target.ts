// Where optimize's result goes, decided before a byte is read, so that
// nothing is replaced by surprise:
// * in place only on a regular file (never a pipe, FIFO, terminal or device,
//   which would otherwise be replaced by a regular file of that name);
// * through symlinks: the real file is replaced and the link kept, for SRC
//   and for DEST (as cp writes through a link);
// * a file with other hard links is not replaced in place without --force
//   (the other names would keep the old content, and the space would double);
// * an existing DEST is not replaced without --force (exit 3), unless it is
//   SRC under another name, which is in place.

import type { Stats } from 'node:fs'
import { realpath, stat, lstat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { VmaError, fromSystemError } from '../util/errors.js'

export interface OptimizeTarget {
  toStdout: boolean
  inPlace: boolean
  /** The path the result is renamed to (links resolved), or undefined for stdout. */
  finalPath?: string
  /** The result's name as the user gave it (SRC in place, DEST in a directory...), "-" for stdout; for messages. */
  name: string
  /** DEST did not exist when checked: publishing must not replace one that appears meanwhile. */
  isNew?: boolean
  /** SRC's status (links followed), or undefined for stdin. */
  srcStat?: Stats
}

const usage = (msg: string) => new VmaError('VMA_USAGE', -1, msg)

async function statOrUndefined(path: string, follow: boolean): Promise<Stats | undefined> {
  try {
    return follow ? await stat(path) : await lstat(path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw fromSystemError(e, `cannot open ${path}`)
  }
}

/** The real file behind `path`, which must be the file `st` describes. */
async function realFile(path: string, st: Stats, what: string): Promise<string> {
  const real = await realpath(path).catch(e => {
    throw fromSystemError(e, `cannot resolve ${path}`)
  })
  const rst = await statOrUndefined(real, true)
  // /proc/self/fd/N of a deleted file resolves to "NAME (deleted)": not the same file.
  if (!rst || rst.dev !== st.dev || rst.ino !== st.ino) throw usage(`${path} cannot be ${what}: it does not resolve to a file in a directory (${real})`)
  return real
}

/** Checks that `path` (SRC, or DEST naming SRC) may be replaced in place; returns the real file. */
async function inPlaceTarget(path: string, st: Stats, force: boolean): Promise<string> {
  if (!st.isFile()) {
    throw usage(`${path} is not a regular file (a pipe, FIFO, terminal or device), so it cannot be optimized in place; name an output file: vma-opt optimize - OUT.vma < ${path}`)
  }
  if (st.nlink > 1 && !force) {
    throw usage(
      `${path} has ${st.nlink} hard links: replacing it in place would leave the other names with the old archive and take the space twice; optimize to a new file, or use --force to replace this name only`,
    )
  }
  return realFile(path, st, 'optimized in place')
}

export async function resolveTarget(src: string, dest: string | undefined, force = false): Promise<OptimizeTarget> {
  const toStdout = dest === '-' || (dest === undefined && src === '-')
  const srcStat =
    src === '-'
      ? undefined
      : await stat(src).catch(e => {
          throw fromSystemError(e, `cannot open ${src}`)
        })
  if (toStdout) return { toStdout, inPlace: false, name: '-', srcStat }
  if (dest === undefined) return { toStdout, inPlace: true, name: src, finalPath: await inPlaceTarget(src, srcStat!, force), srcStat }

  // Like cp: a directory as DEST means a file of SRC's name in it.
  if ((await statOrUndefined(dest, true))?.isDirectory()) {
    if (src === '-') throw usage(`${dest} is a directory; name the output file`)
    dest = join(dest, basename(src))
  }
  const link = await statOrUndefined(dest, false)
  if (!link) return { toStdout, inPlace: false, name: dest, finalPath: dest, srcStat, isNew: !force }
  const st = await statOrUndefined(dest, true)
  if (!st) throw usage(`${dest} is a symbolic link to nothing; name the file to write instead`)
  if (srcStat && st.dev === srcStat.dev && st.ino === srcStat.ino) {
    return { toStdout, inPlace: true, name: src, finalPath: await inPlaceTarget(dest, st, force), srcStat }
  }
  if (!force) throw new VmaError('VMA_EXISTS', -1, `${dest} exists; use --force to replace it`)
  if (!st.isFile()) throw usage(`${dest} is not a regular file; vma-opt replaces only regular files (use - to write to stdout)`)
  return { toStdout, inPlace: false, name: dest, finalPath: await realFile(dest, st, 'replaced'), srcStat }
}
