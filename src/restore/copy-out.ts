// `get`: a file or a tree out of a guest filesystem onto the host, as it was:
// data runs only (holes stay holes, the file truncated to its size), mode,
// mtime and atime, owner when run as root, symlinks as symlinks with their
// stored targets, hard links inside the copied tree as hard links.
//
// Safety. Every name comes from the guest and is hostile until proven: one
// holding '/' or NUL, or equal to '.' or '..', is refused. The tree is built
// inside a fresh hidden directory next to DEST (mode 0700) that only we
// write: every directory is made by us (mkdir, which fails on anything
// already there), every file is created with O_CREAT|O_EXCL|O_NOFOLLOW and
// every symlink with symlink(2), which never follows; we only ever descend
// into a directory we just made, so no path we write goes through a symlink
// the guest chose. Device nodes, FIFOs and sockets are not created (listed as
// skipped). NTFS alternate data streams (`--streams`) become files
// NAME:STREAM beside their file, created the same way, the stream's name
// checked like any guest name. Then the result is renamed to DEST; on an error or a signal the
// hidden file or tree is removed, so nothing half-written is left.

import { chmodSync, constants, promises as fsp, opendirSync, rmSync } from 'node:fs'
import { dirname } from 'node:path'
import type { FileId, FileStat, GuestFs } from '../files/guest-fs.js'
import { tempNameFor } from '../util/temp-names.js'
import { removeFile, trackFile, untrackFile } from '../util/temp-files.js'
import { VmaError, fromSystemError } from '../util/errors.js'
import { printable } from './resolve-path.js'
import type { XattrWriter } from './xattr-writer.js'
import { syncDir } from '../output/output-file.js'

/** One buffer for all file data: reads of 1 MiB, reused. */
const CHUNK = 1 << 20

export interface CopyOptions {
  recursive: boolean
  force: boolean
  /** Sets uid/gid as stored (only root may). */
  owner: boolean
  /** Extended attributes and ACLs, when asked for and possible. */
  xattrs?: XattrWriter
  /** NTFS alternate data streams too, each as `NAME:STREAM` beside its file (`--streams`). */
  streams?: boolean
  /** One line per skipped file or warning. */
  log: (msg: string) => void
  progress?: (bytes: number) => void
}

export interface CopyResult {
  files: number
  dirs: number
  symlinks: number
  hardlinks: number
  skipped: number
  /** Alternate data streams written (`--streams`). */
  streams: number
  bytes: number
}

/** Trees being written, removed on a signal (rmSync: a signal handler cannot wait). */
const liveTrees = new Set<string>()

/** For the CLI's signal handler: removes every tree still being written. */
export function removeLiveTrees(): void {
  for (const t of liveTrees) removeTree(t)
  liveTrees.clear()
}

/**
 * Removes a tree we were writing. Directories already finished carry their
 * stored modes, and a read-only one (0555) stops a user who is not root from
 * deleting inside it: then every directory of the tree (all made by us; the
 * walk never follows a symlink) is made writable and the removal retried.
 * Synchronous: a signal handler cannot wait.
 */
function removeTree(tree: string): void {
  try {
    rmSync(tree, { recursive: true, force: true })
  } catch {
    // Names as bytes: a guest's name need not be UTF-8.
    const open = (dir: Buffer) => {
      chmodSync(dir, 0o700)
      // Node gives Buffer names for 'buffer' here, as readdir does; its types only know string encodings.
      const d = opendirSync(dir, { encoding: 'buffer' as BufferEncoding })
      try {
        for (let e = d.readSync(); e; e = d.readSync()) if (e.isDirectory()) open(under(dir, e.name as unknown as Buffer))
      } finally {
        d.closeSync()
      }
    }
    try {
      open(Buffer.from(tree))
    } catch {
      // What could not be opened, the retry reports by leaving it.
    }
    rmSync(tree, { recursive: true, force: true })
  }
}

const SLASH = Buffer.from('/')
const COLON = Buffer.from(':')

/**
 * The name as a path component, or a damage error: it must not reach outside
 * its directory. Paths stay bytes (Buffer) all the way to the system calls, so
 * a name that is not UTF-8 is written exactly as the guest stored it.
 */
export function safeName(name: Buffer, where: string): Buffer {
  const dots = name.length <= 2 && name.every(b => b === 0x2e)
  if (name.length === 0 || name.includes(0x2f) || name.includes(0) || dots) {
    throw new VmaError('VMA_GUEST_DAMAGED', -1, `${where}: the name ${JSON.stringify(printable(name))} cannot be a file name here (it is empty, '.', '..', or holds '/' or NUL)`)
  }
  return name
}

const under = (dir: Buffer, name: Buffer): Buffer => Buffer.concat([dir, SLASH, name])
const shown = (p: Buffer): string => printable(p)

/**
 * A failed create inside the fresh tree only we write: EEXIST there can only
 * mean the guest's directory holds one name twice (damage), never a DEST
 * that exists, so it is not reported as VMA_EXISTS (which points to --force).
 */
const createFailed = (what: string, path: Buffer, where: string) => (e: unknown) =>
  Promise.reject((e as NodeJS.ErrnoException)?.code === 'EEXIST' ? new VmaError('VMA_GUEST_DAMAGED', -1, `${where}: the name is in its directory twice`) : fromSystemError(e, `${what} ${shown(path)}`))

async function exists(path: string): Promise<boolean> {
  try {
    await fsp.lstat(path)
    return true
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw fromSystemError(e, path)
  }
}

export class CopyOut {
  private readonly buf = Buffer.allocUnsafe(CHUNK)
  /** First copy of each multiply-linked file: its path in the tree. */
  private readonly linked = new Map<FileId, Buffer>()
  /** Directories on the way down, against loops (a directory reached twice). */
  private readonly ancestors = new Set<FileId>()
  /**
   * Every directory written. A directory has one name (no filesystem read
   * here links directories); one reached twice is damage, and copying it
   * again would let n levels of two links each write 2^n trees.
   */
  private readonly dirsWritten = new Set<FileId>()
  private readonly r: CopyResult = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, skipped: 0, streams: 0, bytes: 0 }

  constructor(
    private readonly fs: GuestFs,
    private readonly where: string,
    private readonly o: CopyOptions,
  ) {}

  /** Writes the file `id` (named `guestPath` in messages) to `dest`. */
  async run(id: FileId, st: FileStat, guestPath: string, dest: string): Promise<CopyResult> {
    if (st.type === 'dir' && !this.o.recursive) throw new VmaError('VMA_USAGE', -1, `${this.where}:${guestPath} is a directory: get it with -r`)
    if (st.type !== 'file' && st.type !== 'dir' && st.type !== 'symlink') {
      throw new VmaError('VMA_USAGE', -1, `${this.where}:${guestPath} is a ${st.type}: only files, directories and symlinks are written`)
    }
    const there = await exists(dest)
    if (there && !this.o.force) throw new VmaError('VMA_EXISTS', -1, `${dest} already exists (--force replaces it)`)
    // A single file's streams land beside DEST as DEST:STREAM, under the same rules as DEST.
    const streams = st.type === 'file' ? await this.streamNames(id, Buffer.from(guestPath)) : []
    for (const s of streams) {
      if (!this.o.force && (await exists(`${dest}:${s}`))) throw new VmaError('VMA_EXISTS', -1, `${dest}:${s} already exists (--force replaces it)`)
    }
    const tmp = tempNameFor(dest)
    const sideTmps = streams.map(s => `${tmp}:${s}`)
    if (st.type === 'dir') liveTrees.add(tmp)
    else trackFile(tmp)
    for (const p of sideTmps) trackFile(p)
    try {
      await this.write(id, st, Buffer.from(tmp), Buffer.from(guestPath))
      const xattrProblem = await this.o.xattrs?.finish()
      if (xattrProblem) this.o.log(xattrProblem)
      for (const [i, s] of streams.entries()) {
        await fsp.rename(sideTmps[i]!, `${dest}:${s}`).catch(e => Promise.reject(fromSystemError(e, `cannot rename to ${dest}:${s}`)))
      }
      if (there) await this.replace(dest, tmp, st.type === 'dir')
      else await fsp.rename(tmp, dest).catch(e => Promise.reject(fromSystemError(e, `cannot rename to ${dest}`)))
      await syncDir(dirname(dest))
    } catch (e) {
      if (st.type === 'dir') {
        try {
          removeTree(tmp)
        } catch {
          this.o.log(`could not remove the partial tree ${tmp}`)
        }
      } else removeFile(tmp)
      for (const p of sideTmps) removeFile(p)
      await this.o.xattrs?.abandon()
      throw e
    } finally {
      liveTrees.delete(tmp)
      untrackFile(tmp)
      for (const p of sideTmps) untrackFile(p)
    }
    return this.r
  }

  /** --force: the new file or tree takes DEST's name in one rename when it can; an old directory is removed after. */
  private async replace(dest: string, tmp: string, isDir: boolean): Promise<void> {
    const old = await fsp.lstat(dest)
    if (!old.isDirectory() && !isDir) {
      await fsp.rename(tmp, dest).catch(e => Promise.reject(fromSystemError(e, `cannot rename to ${dest}`)))
      return
    }
    const aside = tempNameFor(dest)
    await fsp.rename(dest, aside).catch(e => Promise.reject(fromSystemError(e, `cannot move ${dest} aside`)))
    try {
      await fsp.rename(tmp, dest)
    } catch (e) {
      await fsp.rename(aside, dest).catch(() => undefined)
      throw fromSystemError(e, `cannot rename to ${dest}`)
    }
    // The old tree may hold read-only directories (an earlier get's): removeTree opens them first.
    try {
      removeTree(aside)
    } catch (e) {
      throw fromSystemError(e, `cannot remove the old ${dest}, moved aside to ${aside}`)
    }
  }

  private async write(id: FileId, st: FileStat, path: Buffer, guestPath: Buffer): Promise<void> {
    switch (st.type) {
      case 'file':
        return this.writeFile(id, st, path, guestPath)
      case 'symlink':
        return this.writeSymlink(id, st, path, guestPath)
      case 'dir':
        return this.writeDir(id, st, path, guestPath)
      default:
        this.r.skipped++
        this.o.log(`skipped ${shown(guestPath)}: a ${st.type} is not created`)
    }
  }

  private async writeFile(id: FileId, st: FileStat, path: Buffer, guestPath: Buffer): Promise<void> {
    if (st.nlink > 1) {
      const first = this.linked.get(id)
      if (first !== undefined) {
        await fsp.link(first, path).catch(createFailed('cannot link', path, `${this.where}:${shown(guestPath)}`))
        // A stream belongs to the file, not the name: each name gets them, linked too.
        for (const s of await this.streamNames(id, guestPath)) {
          const from = Buffer.concat([first, COLON, Buffer.from(s)])
          const to = Buffer.concat([path, COLON, Buffer.from(s)])
          await fsp.link(from, to).catch(createFailed('cannot link', to, `${this.where}:${shown(guestPath)}`))
        }
        this.r.hardlinks++
        return
      }
    }
    const fh = await fsp
      .open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
      .catch(createFailed('cannot create', path, `${this.where}:${shown(guestPath)}`))
    try {
      for await (const run of this.fs.runs(id)) {
        if (!run.data) continue
        const end = Math.min(run.offset + run.length, st.size)
        for (let at = run.offset; at < end; ) {
          const want = Math.min(CHUNK, end - at)
          const got = await this.fs.read(id, at, this.buf.subarray(0, want))
          if (got <= 0) throw new VmaError('VMA_GUEST_DAMAGED', -1, `${this.where}:${shown(guestPath)}: the file ends at ${at}, before its size ${st.size}`)
          await writeAll(fh, this.buf, got, at, path)
          at += got
          this.r.bytes += got
          this.o.progress?.(this.r.bytes)
        }
      }
      await fh.truncate(st.size).catch(e => Promise.reject(fromSystemError(e, `cannot set the size of ${shown(path)}`)))
      await this.meta(id, st, path, fh)
      await fh.sync()
    } finally {
      await fh.close()
    }
    for (const s of await this.streamNames(id, guestPath)) await this.writeStream(id, s, st, Buffer.concat([path, COLON, Buffer.from(s)]))
    this.r.files++
    if (st.nlink > 1) this.linked.set(id, path)
  }

  private async writeSymlink(id: FileId, st: FileStat, path: Buffer, guestPath: Buffer): Promise<void> {
    // The target as stored: it is never followed here, only written.
    const target = await this.fs.readlink(id)
    const where = `${this.where}:${shown(guestPath)}`
    // No system call takes an empty target or one holding NUL.
    if (target.length === 0 || target.includes(0)) throw new VmaError('VMA_GUEST_DAMAGED', -1, `${where}: the symlink target ${JSON.stringify(printable(target))} is empty or holds NUL`)
    await fsp.symlink(target, path).catch(createFailed('cannot create the symlink', path, where))
    await this.meta(id, st, path)
    this.r.symlinks++
  }

  private async writeDir(id: FileId, st: FileStat, path: Buffer, guestPath: Buffer): Promise<void> {
    if (this.ancestors.has(id)) throw new VmaError('VMA_GUEST_DAMAGED', -1, `${this.where}:${shown(guestPath)}: directory ${id} contains itself (a loop)`)
    if (this.dirsWritten.has(id)) throw new VmaError('VMA_GUEST_DAMAGED', -1, `${this.where}:${shown(guestPath)}: directory ${id} has a second name (directories are never hard-linked)`)
    this.dirsWritten.add(id)
    await fsp.mkdir(path, 0o700).catch(createFailed('cannot create the directory', path, `${this.where}:${shown(guestPath)}`))
    this.ancestors.add(id)
    try {
      for await (const e of this.fs.readdir(id)) {
        const name = safeName(e.name, `${this.where}:${shown(guestPath)}`)
        const child = guestPath.equals(SLASH) ? under(Buffer.alloc(0), name) : under(guestPath, name)
        const cst = await this.fs.stat(e.id)
        if (cst.type === 'dir' && this.ancestors.has(e.id)) throw new VmaError('VMA_GUEST_DAMAGED', -1, `${this.where}:${shown(child)}: directory ${e.id} contains itself (a loop)`)
        await this.write(e.id, cst, under(path, name), child)
      }
    } finally {
      this.ancestors.delete(id)
    }
    // Last: a read-only directory's mode would have stopped its own children.
    await this.meta(id, st, path)
    this.r.dirs++
  }

  /** The file's alternate data streams when asked for (`--streams`), each name checked as a file name. */
  private async streamNames(id: FileId, guestPath: Buffer): Promise<string[]> {
    if (!this.o.streams || !this.fs.streams) return []
    const names = await this.fs.streams(id)
    for (const s of names) safeName(Buffer.from(s), `${this.where}:${shown(guestPath)}: stream`)
    return names
  }

  /** One alternate data stream as a file of its own, with its file's mode, owner and times (streams have none of their own). */
  private async writeStream(id: FileId, stream: string, st: FileStat, path: Buffer): Promise<void> {
    const readStream = this.fs.readStream?.bind(this.fs)
    if (!readStream) return
    const fh = await fsp
      .open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
      .catch(e => Promise.reject(fromSystemError(e, `cannot create ${shown(path)}`)))
    try {
      for (let at = 0; ; ) {
        const got = await readStream(id, stream, at, this.buf)
        if (got > 0) {
          await writeAll(fh, this.buf, got, at, path)
          at += got
          this.r.bytes += got
          this.o.progress?.(this.r.bytes)
        }
        if (got < this.buf.length) break
      }
      await this.meta(id, st, path, fh, false)
      await fh.sync()
    } finally {
      await fh.close()
    }
    this.r.streams++
  }

  /** Mode, owner (as root), xattrs, then the times (after everything that changes them). */
  private async meta(id: FileId, st: FileStat, path: Buffer, fh?: fsp.FileHandle, xattrs = true): Promise<void> {
    const fail = (what: string) => (e: unknown) => Promise.reject(fromSystemError(e, `cannot set the ${what} of ${shown(path)}`))
    if (this.o.owner) await (fh ? fh.chown(st.uid, st.gid) : fsp.lchown(path, st.uid, st.gid)).catch(fail('owner'))
    if (st.type !== 'symlink') {
      // Without root the set-id bits would not name the stored owner: dropped, as tar does.
      const perm = this.o.owner ? st.perm & 0o7777 : st.perm & 0o1777
      await (fh ? fh.chmod(perm) : fsp.chmod(path, perm)).catch(fail('mode'))
    }
    if (this.o.xattrs && xattrs) {
      const list = await this.fs.xattrs(id)
      if (list.length) await this.o.xattrs.set(path, list)
    }
    const at = st.atime.sec + st.atime.nsec / 1e9
    const mt = st.mtime.sec + st.mtime.nsec / 1e9
    await (fh ? fh.utimes(at, mt) : fsp.lutimes(path, at, mt)).catch(fail('times'))
  }
}

async function writeAll(fh: fsp.FileHandle, buf: Buffer, n: number, pos: number, path: Buffer): Promise<void> {
  for (let done = 0; done < n; ) {
    const { bytesWritten } = await fh.write(buf, done, n - done, pos + done).catch(e => Promise.reject(fromSystemError(e, `cannot write ${shown(path)}`)))
    done += bytesWritten
  }
}
