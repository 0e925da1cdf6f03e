// A lock on a file that a run replaces (optimize in place, the hook, the
// reverse-delta conversion, pack/apply/diff onto a name), held for the whole
// run, so that two runs on one file cannot both report success while the
// last rename wins. flock(2) is out of reach of Node without native code,
// so the lock is made of claim files beside the target, named as temp files
// are (util/temp-names: `.NAME.vma-opt-PID-START-BOOT-HOST-RAND.lock`), the
// name saying which process holds it and the content which command:
//
//   1. create our claim (O_EXCL: a name no one else can have);
//   2. list the directory: any other claim on NAME whose process is gone
//      (another boot, a dead PID, a recycled one) is removed: a dead process
//      never comes back, so removing its claim can never break a live lock;
//   3. if a live claim is left, withdraw ours and wait or fail; else we hold.
// Two runs can never both hold: whichever listed second saw the other's
// claim. Two that start at the same instant may both withdraw; with --wait
// they retry after a random pause. No lock file is ever taken over or
// rewritten, so there is no stale-lock race to get wrong.
//
// Claims are temp files (util/temp-files): removed on exit, error and
// SIGINT/SIGTERM/SIGHUP, and a SIGKILLed run's claim is stale by its name.
// A claim of another host (an NFS dump directory shared by a cluster)
// counts as live: its PID cannot be checked from here.
// Where no claim can be created (a read-only directory or file system, no
// write permission), no run of this user can replace the file either: the
// run goes on unlocked, and a read-only outcome (already optimized) works.

import { closeSync, lstatSync, openSync, readFileSync, readdirSync, realpathSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { hostname } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { VmaError } from './errors.js'
import { trackFile, untrackFile } from './temp-files.js'
import { isStaleName, ownerOfName, tempNameFor, tempPrefixFor } from './temp-names.js'

export interface LockOptions {
  /** Wait for the other run to finish instead of failing at once. */
  wait?: boolean
  /** Called once when a wait begins, with a line that names the other run. */
  onWait?: (line: string) => void
  /**
   * With `wait`: give up (VMA_LOCKED) after this many milliseconds. A claim
   * of another host or PID namespace is never stale to us, so a run that
   * must not hang (the hook, which blocks vzdump's job) sets one.
   */
  waitAtMostMs?: number
}

export interface FileLock {
  /** False where no claim could be made (read-only directory). */
  held: boolean
  release(): void
}

const POLL_MS = 200
const CLAIM_TAIL = /^\d+-\d+-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}\.lock$/
/**
 * Locks this process holds, by real path: a run that calls another (the hook
 * calls optimize) holds once. Kept on globalThis, not in this module: a lock
 * belongs to the process, and one process may load this module more than
 * once (two copies of vma-opt under node_modules, or a test's mockImport,
 * which loads a fresh copy of everything below the module it mocks); each
 * copy would otherwise take the other's claim for another run's.
 */
const HELD = Symbol.for('vma-opt.file-lock.held')
type Held = Map<string, { claim: string; count: number }>
const held = ((globalThis as Record<symbol, unknown>)[HELD] ??= new Map()) as Held

/** The target's real path when it exists; else its directory's real path and its name. */
function realTarget(target: string): string {
  try {
    return realpathSync(target)
  } catch {
    try {
      return join(realpathSync(dirname(resolve(target))), basename(target))
    } catch {
      return resolve(target)
    }
  }
}

function claimText(): string {
  // The hook's entry runs as node .../hook-main.js PHASE...: say which program it is.
  const prog = /hook-main\.js$/.test(process.argv[1] ?? '') ? 'vma-opt vzdump hook' : 'vma-opt'
  const cmd = [prog, ...process.argv.slice(2)]
    .join(' ')
    .replace(/[\n\r]/g, ' ')
    .slice(0, 300)
  return `${process.pid}\n${cmd}\n${hostname()}\n`
}

/**
 * Creates our claim; undefined where the directory cannot take one. The claim
 * appears whole: its text is written under a temp name first and renamed to
 * the claim's name, so a run that finds it never reads it empty (and cannot
 * say who holds the file). The claim's name is ours alone (PID, start time,
 * random part), so the rename replaces nothing.
 */
function createClaim(path: string): string | undefined {
  const claim = tempNameFor(path, 'lock')
  const draft = tempNameFor(path, 'tmp')
  let fd: number
  try {
    fd = openSync(draft, 'wx', 0o644)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return undefined
    throw new VmaError('VMA_IO', -1, `cannot lock ${path}: ${(e as Error).message}`)
  }
  trackFile(draft)
  try {
    try {
      writeSync(fd, claimText())
    } finally {
      closeSync(fd)
    }
    trackFile(claim)
    renameSync(draft, claim)
  } catch (e) {
    untrackFile(claim)
    try {
      unlinkSync(draft)
    } catch {
      // already gone
    }
    untrackFile(draft)
    throw new VmaError('VMA_IO', -1, `cannot lock ${path}: ${(e as Error).message}`)
  }
  untrackFile(draft)
  return claim
}

/** The other live claims on `path` (stale ones are removed on the way), as lines for a message. */
function otherHolders(path: string, claim: string): string[] {
  const prefix = tempPrefixFor(path)
  const dir = dirname(path)
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    // Exactly NAME's claims: not those of a file whose name merely starts like NAME's prefix.
    if (!name.startsWith(prefix) || !CLAIM_TAIL.test(name.slice(prefix.length)) || name === basename(claim)) continue
    const owner = ownerOfName(name)
    if (!owner) continue
    const full = join(dir, name)
    let st
    try {
      st = lstatSync(full)
    } catch {
      continue // withdrawn meanwhile
    }
    if (st.isFile() && isStaleName(name, st.mtimeMs)) {
      try {
        unlinkSync(full)
      } catch {
        // removed by another run meanwhile
      }
      continue
    }
    let text = ''
    try {
      text = readFileSync(full, 'utf8')
    } catch {
      // withdrawn meanwhile: it still counts this time
    }
    const [, cmd, host] = text.split('\n')
    out.push(`PID ${owner.pid}${owner.thisHost ? '' : ` on host ${host || 'another host'}`}: ${cmd || 'vma-opt'}`)
  }
  return out
}

/**
 * Locks `target` (a file to be replaced, or a name to be written) for this
 * process. Throws VMA_LOCKED (exit 1) naming the other run when one holds it,
 * unless `wait`.
 */
export async function lockFile(target: string, o: LockOptions = {}): Promise<FileLock> {
  const path = realTarget(target)
  const mine = held.get(path)
  if (mine) {
    mine.count++
    return { held: true, release: () => release(path) }
  }
  let told = false
  const giveUpAt = o.waitAtMostMs === undefined ? Infinity : Date.now() + o.waitAtMostMs
  for (;;) {
    const claim = createClaim(path)
    if (claim === undefined) return { held: false, release: () => undefined }
    let others: string[]
    try {
      others = otherHolders(path, claim)
    } catch (e) {
      drop(claim)
      throw new VmaError('VMA_IO', -1, `cannot lock ${target}: ${(e as Error).message}`)
    }
    if (others.length === 0) {
      held.set(path, { claim, count: 1 })
      return { held: true, release: () => release(path) }
    }
    drop(claim)
    const who = `${target} is in use by another vma-opt run (${others.join('; ')})`
    if (!o.wait) throw new VmaError('VMA_LOCKED', -1, `${who}; try again when it has finished, or use --wait`)
    if (Date.now() >= giveUpAt)
      throw new VmaError(
        'VMA_LOCKED',
        -1,
        `${who}; waited ${Math.round(o.waitAtMostMs! / 60000)} min for it, gave up (a claim left by a crashed run on another host or in a container: remove it by hand)`,
      )
    if (!told) o.onWait?.(`vma-opt: waiting: ${who}`)
    told = true
    await sleep(POLL_MS + Math.floor(Math.random() * POLL_MS))
  }
}

function drop(claim: string): void {
  try {
    unlinkSync(claim)
  } catch {
    // already gone
  }
  untrackFile(claim)
}

function release(path: string): void {
  const h = held.get(path)
  if (!h || --h.count > 0) return
  held.delete(path)
  drop(h.claim)
}

/** Runs `body` holding the lock on `target` (none when undefined: stdout). */
export async function withFileLock<T>(target: string | undefined, o: LockOptions | undefined, body: () => Promise<T>): Promise<T> {
  const lock = target === undefined ? undefined : await lockFile(target, o)
  try {
    return await body()
  } finally {
    lock?.release()
  }
}
