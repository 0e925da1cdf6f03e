// The two operations of single-file restore, on an opened source
// (restore-source): `ls` lists the volumes of the disks or the entries of a
// guest directory, `get` writes a guest file or tree to the host
// (copy-out). Both read only the blocks the filesystem reader asks for.

import type { RestoreSource } from './restore-source.js'
import { guestVolumes, type GuestVolume } from './guest-volumes.js'
import { diskNamed, parseTarget, volumeNamed } from './guest-target.js'
import { resolvePath, printable } from './resolve-path.js'
import type { ListedEntry } from './entry-format.js'
import type { FileStat, GuestFs } from '../files/guest-fs.js'
import { CopyOut, type CopyOptions, type CopyResult } from './copy-out.js'
import { VmaError, fromSystemError } from '../util/errors.js'

/** The volumes `ls ARCHIVE [DISK]` shows: every disk's, or one disk's. */
export async function listVolumes(src: RestoreSource, disk?: string): Promise<GuestVolume[]> {
  const name =
    disk === undefined
      ? undefined
      : diskNamed(
          src.disks.map(d => d.name),
          disk,
        )
  const all = await guestVolumes(src.disks)
  return name === undefined ? all : all.filter(v => v.disk === name)
}

export interface Opened {
  fs: GuestFs
  /** `DISK[:VOLUME]` as the archive names it, for messages. */
  where: string
  path: string
}

/** The filesystem and path a `DISK[:VOLUME][:/PATH]` names (the path '/' when none is given). */
export async function openTarget(src: RestoreSource, spec: string, warn: (line: string) => void): Promise<Opened> {
  const t = parseTarget(spec)
  const disk = diskNamed(
    src.disks.map(d => d.name),
    t.disk,
  )
  // Only the volume named is opened: another volume's damage or journal is not this command's business.
  const id = t.volume ?? 'disk'
  const v = volumeNamed(await guestVolumes(src.disks, (d, x) => x === id && (d === disk || id.includes('/'))), disk, t.volume)
  // A journal to replay and the like: said once, before any answer.
  for (const w of v.fs.warnings) warn(`${disk}${t.volume ? `:${t.volume}` : ''}: ${w}`)
  return { fs: v.fs, where: `${disk}${t.volume ? `:${t.volume}` : ''}`, path: t.path ?? '/' }
}

/**
 * The entries of a directory (streamed), or the one entry of anything else.
 * `stats`: each entry's stat (for -l and --json). `streams`: after each file,
 * its alternate data streams as `NAME:STREAM` entries (the file's stat with
 * the stream's size), the names `get --streams` writes.
 */
export async function* listPath(o: Opened, stats: boolean, streams = false): AsyncGenerator<ListedEntry> {
  const r = await resolvePath(o.fs, o.path, o.where)
  if (r.stat.type !== 'dir') {
    yield { name: r.name, stat: r.stat, ...(r.stat.type === 'symlink' ? { target: await o.fs.readlink(r.id) } : {}) }
    if (streams) yield* streamEntries(o.fs, r.name, r.stat)
    return
  }
  for await (const e of o.fs.readdir(r.id)) {
    if (!stats && !streams) {
      // Only the name is printed: no inode read per entry.
      yield { name: e.name, stat: { id: e.id, type: e.type ?? 'file' } as ListedEntry['stat'] }
      continue
    }
    const stat = await o.fs.stat(e.id)
    yield { name: e.name, stat, ...(stat.type === 'symlink' ? { target: await o.fs.readlink(e.id) } : {}) }
    if (streams) yield* streamEntries(o.fs, e.name, stat)
  }
}

async function* streamEntries(fs: GuestFs, name: Buffer, stat: FileStat): AsyncGenerator<ListedEntry> {
  if (stat.type !== 'file' || !fs.streams) return
  for (const s of await fs.streams(stat.id)) {
    const size = (await fs.streamSize?.(stat.id, s)) ?? 0
    yield { name: Buffer.concat([name, Buffer.from(`:${s}`)]), stat: { ...stat, size, allocated: 0 } }
  }
}

export interface GetOptions extends CopyOptions {
  /** Where stdout goes for DEST `-`. */
  stdout?: NodeJS.WritableStream
}

/** `get`: the file at o.path to `dest` (a host path), or its bytes to `out` (dest `-`). */
export async function getPath(o: Opened, dest: string, opts: GetOptions): Promise<CopyResult> {
  if (dest === '-') return toStream(o, opts)
  const r = await resolvePath(o.fs, o.path, o.where)
  return new CopyOut(o.fs, o.where, opts).run(r.id, r.stat, o.path, dest)
}

/** The default DEST: the last component's name in the current directory (refused when it is not a plain name). */
export async function defaultDest(o: Opened): Promise<string> {
  const r = await resolvePath(o.fs, o.path, o.where)
  if (r.id === o.fs.root) throw new VmaError('VMA_USAGE', -1, `${o.where}:${o.path} is the root: name a DEST directory`)
  const s = r.name.toString('utf8')
  if (!Buffer.from(s).equals(r.name) || s === '.' || s === '..') throw new VmaError('VMA_USAGE', -1, `${o.where}:${o.path}: the name ${printable(r.name)} is no host file name: name a DEST`)
  return s
}

async function toStream(o: Opened, opts: GetOptions): Promise<CopyResult> {
  // The bytes a program reading the path would get: a symlink at the end is followed.
  const r = await resolvePath(o.fs, o.path, o.where, true)
  if (r.stat.type !== 'file') throw new VmaError('VMA_USAGE', -1, `${o.where}:${o.path} is a ${r.stat.type}: only a file goes to stdout`)
  const out = opts.stdout ?? process.stdout
  const buf = Buffer.allocUnsafe(1 << 20)
  let at = 0
  while (at < r.stat.size) {
    const got = await o.fs.read(r.id, at, buf.subarray(0, Math.min(buf.length, r.stat.size - at)))
    if (got <= 0) throw new VmaError('VMA_GUEST_DAMAGED', -1, `${o.where}:${o.path}: the file ends at ${at}, before its size ${r.stat.size}`)
    await new Promise<void>((resolve, reject) => out.write(buf.subarray(0, got), err => (err ? reject(fromSystemError(err, 'cannot write the output')) : resolve())))
    at += got
    opts.progress?.(at)
  }
  return { files: 1, dirs: 0, symlinks: 0, hardlinks: 0, skipped: 0, streams: 0, bytes: at }
}
