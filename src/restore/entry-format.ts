// How `ls` prints an entry: the name alone, `-l` (like `ls -l`, with numeric
// owners and UTC times), or one JSON object. Names are printed through
// `printable` (bytes that are not printable UTF-8 as \xNN): a name can never
// break a line or move the cursor; JSON adds the exact bytes in hex when the
// printed name is not them.

import type { FileStat, FileType, Timestamp } from '../files/guest-fs.js'
import { printable } from './resolve-path.js'

export interface ListedEntry {
  name: Buffer
  stat: FileStat
  /** A symlink's target bytes. */
  target?: Buffer
}

const TYPE_CHAR: Record<FileType, string> = { file: '-', dir: 'd', symlink: 'l', chardev: 'c', blockdev: 'b', fifo: 'p', socket: 's' }

/** `drwxr-xr-x`, with s/S, t/T for the set-id and sticky bits, as ls(1) writes them. */
export function modeString(type: FileType, perm: number): string {
  const rwx = (shift: number, special: boolean, lower: string, upper: string) => {
    const bits = (perm >> shift) & 7
    const x = bits & 1 ? (special ? lower : 'x') : special ? upper : '-'
    return `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${x}`
  }
  return TYPE_CHAR[type] + rwx(6, (perm & 0o4000) !== 0, 's', 'S') + rwx(3, (perm & 0o2000) !== 0, 's', 'S') + rwx(0, (perm & 0o1000) !== 0, 't', 'T')
}

/** `2026-12-06 18:04:05` in UTC. */
export function timeString(t: Timestamp): string {
  const d = new Date(t.sec * 1000)
  return Number.isNaN(d.getTime()) ? `@${t.sec}` : d.toISOString().slice(0, 19).replace('T', ' ')
}

export function longLine(e: ListedEntry): string {
  const s = e.stat
  const size = s.rdev ? `${s.rdev.major}, ${s.rdev.minor}` : String(s.size)
  const link = e.target ? ` -> ${printable(e.target)}` : ''
  return `${modeString(s.type, s.perm)} ${String(s.nlink).padStart(3)} ${String(s.uid).padStart(5)} ${String(s.gid).padStart(5)} ${size.padStart(12)} ${timeString(s.mtime)} ${printable(e.name)}${link}`
}

const iso = (t: Timestamp) => `${timeString(t).replace(' ', 'T')}.${String(t.nsec).padStart(9, '0')}Z`

/** One entry as JSON (spec/cli.md `ls --json`). */
export function entryJson(e: ListedEntry): Record<string, unknown> {
  const s = e.stat
  const name = printable(e.name)
  return {
    name,
    ...(name !== e.name.toString('utf8') ? { nameHex: e.name.toString('hex') } : {}),
    id: s.id,
    type: s.type,
    mode: s.perm,
    nlink: s.nlink,
    uid: s.uid,
    gid: s.gid,
    size: s.size,
    allocated: s.allocated,
    mtime: iso(s.mtime),
    atime: iso(s.atime),
    ctime: iso(s.ctime),
    ...(s.rdev ? { rdev: s.rdev } : {}),
    ...(e.target ? { target: printable(e.target), ...(printable(e.target) !== e.target.toString('utf8') ? { targetHex: e.target.toString('hex') } : {}) } : {}),
  }
}
