// Names of vma-opt's temp and spool files, and the sweep that removes the
// ones a killed run (SIGKILL, power loss) left behind.
//
// A name says whose file it is: `.NAME.vma-opt-PID-START-BOOT-HOST-RAND.TAG`
//   PID    the process that created it
//   START  that process's start time (clock ticks after boot, /proc/PID/stat
//          field 22), so a recycled PID is not taken for the owner
//   BOOT   8 hex digits of the kernel's boot id: a file from an earlier boot
//          cannot belong to a live process
//   HOST   8 hex digits of a hash of the host name and the PID namespace:
//          on storage shared by several hosts (NFS dump directories of a
//          cluster) or containers, another host's files are never touched,
//          its PIDs mean nothing here
//   TAG    tmp (an output being written), spool (a plain copy of an input)
//          or lock (a claim on the file NAME: util/file-lock)
// A file is stale, and removed, only if its name has this form, it is a
// regular file, HOST is ours, and BOOT is not the current boot or no process
// PID with that start time runs. Everything else is left alone.

import { createHash, randomBytes } from 'node:crypto'
import { lstatSync, readFileSync, readdirSync, readlinkSync, unlinkSync } from 'node:fs'
import { hostname } from 'node:os'
import { basename, dirname, join } from 'node:path'

const NAME_RE = /^\..+\.vma-opt-(\d+)-(\d+)-([0-9a-f]{8})-([0-9a-f]{8})-[0-9a-f]{8}\.(tmp|spool|lock)$/
/** Names written by vma-opt before the owner was spelled out: `.NAME.vma-opt-PID-RAND.TAG`. */
const OLD_NAME_RE = /^\..+\.vma-opt-(\d+)-[0-9a-f]{8}\.(tmp|spool)$/
/** An old-style file is only taken for stale once nobody has written to it for this long. */
const OLD_NAME_AGE_MS = 24 * 3600 * 1000
/** Room left in a 255-byte file name for the part taken from the final name. */
const MAX_BASE = 160

const hex8 = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 8)

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return fallback
  }
}

function readLinkOr(path: string, fallback: string): string {
  try {
    return readlinkSync(path)
  } catch {
    return fallback
  }
}

/** Start time of a process in clock ticks after boot, or undefined if it does not run (or /proc is not there). */
export function processStartTime(pid: number | 'self'): string | undefined {
  const stat = readOr(`/proc/${pid}/stat`, '')
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return fields.length > 20 ? fields[19] : undefined // field 22 overall
}

let self: { pid: number; start: string; boot: string; host: string } | undefined

function owner() {
  self ??= {
    pid: process.pid,
    start: processStartTime('self') ?? '0',
    boot: hex8(readOr('/proc/sys/kernel/random/boot_id', 'unknown').trim()),
    host: hex8(`${hostname()} ${readLinkOr('/proc/self/ns/pid', '')}`),
  }
  return self
}

/** A hidden name next to `finalPath` that says it is ours, who made it and when. */
export function tempNameFor(finalPath: string, tag: 'tmp' | 'spool' | 'lock' = 'tmp'): string {
  const o = owner()
  return join(dirname(finalPath), `${tempPrefixFor(finalPath)}${o.pid}-${o.start}-${o.boot}-${o.host}-${randomBytes(4).toString('hex')}.${tag}`)
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM' // exists, belongs to another user
  }
}

/** The part of a temp name that names its final file: `.NAME.vma-opt-` (NAME cut as tempNameFor cuts it). */
export function tempPrefixFor(finalPath: string): string {
  return `.${basename(finalPath).slice(0, MAX_BASE)}.vma-opt-`
}

/** The process a temp name belongs to, when the name has the current form. */
export function ownerOfName(name: string): { pid: number; ours: boolean; thisHost: boolean } | undefined {
  const m = NAME_RE.exec(name)
  if (!m) return undefined
  const me = owner()
  return { pid: Number(m[1]), ours: Number(m[1]) === me.pid && m[2] === me.start && m[3] === me.boot && m[4] === me.host, thisHost: m[4] === me.host }
}

/** Whether a file of this name in a directory of ours belongs to a process that is gone. */
export function isStaleName(name: string, mtimeMs: number, now = Date.now()): boolean {
  const me = owner()
  const m = NAME_RE.exec(name)
  if (m) {
    const [, pid, start, boot, host] = m
    if (host !== me.host) return false // another host's file: its PIDs mean nothing here
    if (boot !== me.boot) return true // written before this boot: its process is gone
    if (Number(pid) === me.pid) return start !== me.start
    if (!pidAlive(Number(pid))) return true
    const now = processStartTime(Number(pid))
    return now !== undefined && now !== start // the PID was recycled by another process
  }
  const old = OLD_NAME_RE.exec(name)
  if (old) return Number(old[1]) !== me.pid && !pidAlive(Number(old[1])) && now - mtimeMs > OLD_NAME_AGE_MS
  return false
}

const swept = new Set<string>()

/**
 * Removes stale vma-opt temp and spool files from `dir` (once per process
 * and directory). Returns the names removed. Never throws: a directory we
 * cannot list or a file we cannot remove is left as it is.
 */
export function sweepStaleTemps(dir: string): string[] {
  if (swept.has(dir)) return []
  swept.add(dir)
  const removed: string[] = []
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return removed
  }
  for (const name of names) {
    if (!name.startsWith('.') || !name.includes('.vma-opt-')) continue
    try {
      const st = lstatSync(join(dir, name))
      if (!st.isFile() || !isStaleName(name, st.mtimeMs)) continue
      unlinkSync(join(dir, name))
      removed.push(name)
    } catch {
      // gone already, or not ours to remove
    }
  }
  return removed
}
