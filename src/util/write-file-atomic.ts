// Replaces a file so that a crash leaves either the old or the new content,
// never a mix: a temp file next to it, the mode and owner wanted (those of
// the file it replaces, for vzdump.conf), fsync, rename, fsync the directory.

import { closeSync, fchmodSync, fchownSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { fromSystemError } from './errors.js'
import { removeFile, trackFile, untrackFile } from './temp-files.js'

export interface FileOwnership {
  mode: number
  uid?: number
  gid?: number
}

export function writeFileAtomic(file: string, data: string | Uint8Array, like: FileOwnership): void {
  const tmp = join(dirname(file), `.${basename(file)}.vma-opt-${process.pid}.tmp`)
  let fd: number | undefined
  try {
    trackFile(tmp)
    fd = openSync(tmp, 'wx', like.mode & 0o7777)
    const buf = typeof data === 'string' ? Buffer.from(data) : data
    for (let at = 0; at < buf.length; ) at += writeSync(fd, buf, at, buf.length - at)
    fchmodSync(fd, like.mode & 0o7777) // the umask narrowed what openSync set
    if (like.uid !== undefined && like.gid !== undefined && (like.uid !== process.getuid?.() || like.gid !== process.getgid?.())) fchownSync(fd, like.uid, like.gid)
    fsyncSync(fd)
    closeSync(fd)
    fd = undefined
    renameSync(tmp, file)
    untrackFile(tmp)
  } catch (e) {
    if (fd !== undefined) closeSync(fd)
    removeFile(tmp)
    throw fromSystemError(e, `cannot write ${file}`)
  }
  const dir = openSync(dirname(file), 'r')
  try {
    fsyncSync(dir)
  } finally {
    closeSync(dir)
  }
}
