// Reverse incremental backups at vzdump's backup-end (spec/cli.md, "The
// vzdump hook"): the new backup stays a full, ordinary archive; the previous
// backup of the same guest in the same dump directory becomes a reverse
// delta against it (vzdump-qemu-ID-TIME.vma-delta[.zst]), and is removed only
// after the chain new archive + delta has been proven to reproduce the old
// archive's every device, config and ctime. The new backup is only read.
//
// No sequence of failures and prunes may leave a delta without the full
// archive it applies to. vzdump prunes before it runs the hook, so every
// full archive that deltas apply to (a chain end) is protected from its
// prune (backup-chains.ts) until it has become a delta itself. A night whose
// conversion failed (a damaged new backup, no space, a name taken) leaves
// its chain end full and protected; the next night links it up again: the
// full archives to convert are turned into deltas oldest first, each against
// the next newer one (or the new backup, when that one is damaged), so the
// chain is one line again. A chain broken anyway (a file deleted by hand) is
// reported on every night until it is mended. --keep-deltas N keeps the
// newest N deltas that apply; deltas that no longer apply are not counted
// (nor removed: the missing file may yet come back).
//
// Anything that fails leaves the old archive in place and removes the delta
// this run wrote; the failure is logged as a warning.

import { closeSync, existsSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { diff } from '../delta/diff.js'
import { DELTA_NAME, deltaNameFor } from '../delta/delta-name.js'
import { verifyChain } from '../delta/verify-chain.js'
import { identityDifference } from '../format/delta-identity.js'
import { syncDir } from '../output/output-file.js'
import { EXIT_INVALID, EXIT_IO, VmaError } from '../util/errors.js'
import { humanBytes } from '../util/human.js'
import { lockFile } from '../util/file-lock.js'
import { HOOK_LOCK_WAIT_MS } from './hook-options.js'
import { ARCHIVE, PROTECTION_MARK, protectionOf, readGuestChains, type GuestChains } from '../delta/backup-chains.js'

export interface ReverseDeltaOptions {
  /** Keep at most this many deltas of the guest that apply (default: all). */
  keepDeltas?: number
  tmpdir?: string
  zstdThreads?: number
  log?: (line: string) => void
  /** false: only protect chain ends, report broken chains and apply --keep-deltas (a night whose backup failed). */
  convert?: boolean
}

export interface ReverseDeltaResult {
  /** The archive that became a delta (removed), when the previous backup did. */
  previous?: string
  delta?: string
  /** Every archive turned into a delta this night, oldest first, with its delta. */
  converted: { archive: string; delta: string }[]
  /** Archives that could not be turned into deltas, with why. */
  failed: { archive: string; error: unknown }[]
  /** Why the previous backup was not converted, when it was not. */
  skipped?: string
  /** Deltas removed by --keep-deltas. */
  pruned: string[]
  /** Protection files the hook wrote or removed this night (archive names). */
  protectedNow: string[]
  unprotected: string[]
  /** Deltas that apply to no archive in the directory. */
  broken: string[]
}

const errorText = (e: unknown) => (e instanceof VmaError ? `${e.message} (${e.code})` : `internal error: ${(e as Error)?.message ?? e}`)

/**
 * The hook's step after the new backup is optimized (or failed to be):
 * never throws; every failure is logged as a warning (the old archive
 * stays) and fails the backup only with --strict. Returns the exit status
 * for vzdump.
 */
export async function runReverseDeltas(target: string, o: ReverseDeltaOptions & { strict?: boolean }, log: (line: string) => void): Promise<number> {
  try {
    const r = await reverseDeltaAfterBackup(target, { ...o, log })
    if (r.skipped) log(`vma-opt: no reverse delta: ${r.skipped}`)
    const first = r.failed[0]
    if (!first || !o.strict) return 0
    return first.error instanceof VmaError ? first.error.exitCode : EXIT_IO
  } catch (e) {
    log(`vma-opt: WARNING: the reverse deltas were not maintained: ${errorText(e)}; every file was left as it is`)
    return o.strict ? (e instanceof VmaError ? e.exitCode : EXIT_IO) : 0
  }
}

export async function reverseDeltaAfterBackup(target: string, o: ReverseDeltaOptions = {}): Promise<ReverseDeltaResult> {
  const log = o.log ?? (() => undefined)
  if (o.keepDeltas !== undefined && !(Number.isSafeInteger(o.keepDeltas) && o.keepDeltas >= 0)) {
    throw new VmaError('VMA_USAGE', -1, `--keep-deltas needs a whole number of deltas, not ${o.keepDeltas}`)
  }
  const result: ReverseDeltaResult = { converted: [], failed: [], pruned: [], protectedNow: [], unprotected: [], broken: [] }
  const dir = dirname(target)
  const m = ARCHIVE.exec(basename(target))
  if (!m) return { ...result, skipped: `${basename(target)} is not named like a vzdump VM backup` }
  const [, vmid, time] = m as unknown as [string, string, string]
  if (o.convert !== false) await convertOlder(target, vmid, time, await readGuestChains(dir, vmid), o, result, log)
  const chains = await readGuestChains(dir, vmid)
  reportBroken(chains, vmid, result, log)
  if (o.keepDeltas !== undefined) result.pruned = pruneDeltas(chains, o.keepDeltas, log)
  // The newest good backup stays protected for the next night to convert: this one, or on a failed night the one before.
  const after = await readGuestChains(dir, vmid)
  const newest = o.convert !== false ? basename(target) : after.archives.find(a => a.time < time)?.name
  await protectChainEnds(after, newest, result, log)
  return result
}

/**
 * Turns the previous backup, and every older full archive that deltas still
 * end on, into deltas: oldest first, each against the next newer of them
 * that is still full, or against the new backup. A base that turns out
 * damaged is passed over for the next newer one (the new backup was proven
 * by optimize). Each failure is logged and the archive stays full.
 */
async function convertOlder(target: string, vmid: string, time: string, chains: GuestChains, o: ReverseDeltaOptions, result: ReverseDeltaResult, log: (line: string) => void): Promise<void> {
  const older = chains.archives.filter(a => a.time < time)
  const prev = older[0]
  if (!prev) result.skipped = `no earlier backup of VM ${vmid} in ${chains.dir}`
  else if (prev.protection === 'user') result.skipped = `${prev.name} is protected; it stays a full archive`
  const ends = new Set(chains.rootOf.values())
  // Newest first; a backup a person protected stays as it is, and its deltas with it.
  const todo = older.filter((a, i) => (i === 0 || ends.has(a.name)) && a.protection !== 'user').map(a => join(chains.dir, a.name))
  const full = new Set(todo)
  for (let i = todo.length - 1; i >= 0; i--) {
    const archive = todo[i]!
    const bases = [
      ...todo
        .slice(0, i)
        .reverse()
        .filter(b => full.has(b)),
      target,
    ]
    for (const base of bases) {
      try {
        const delta = await convert(base, archive, o, log)
        full.delete(archive)
        result.converted.push({ archive, delta })
        if (archive === join(chains.dir, prev?.name ?? '')) Object.assign(result, { previous: archive, delta })
        break
      } catch (e) {
        const damaged = e instanceof VmaError && e.exitCode === EXIT_INVALID
        if (damaged && base !== target) continue // BASE or ARCHIVE is damaged: the new backup tells which
        result.failed.push({ archive, error: e })
        log(
          `vma-opt: WARNING: ${basename(archive)} was not turned into a reverse delta: ${errorText(e)}; it was left as it is${ends.has(basename(archive)) ? ', protected, with the deltas that apply to it' : ''}`,
        )
        break
      }
    }
  }
}

/** Turns `previous` into a reverse delta against `base`, proven before `previous` is removed; returns the delta. */
async function convert(base: string, previous: string, o: ReverseDeltaOptions, log: (line: string) => void): Promise<string> {
  const delta = deltaNameFor(previous)
  // The archive that goes and the delta that comes are locked until it is done; another run on them is waited for.
  const locks = [await lockFile(previous, { wait: true, onWait: log, waitAtMostMs: HOOK_LOCK_WAIT_MS })]
  let published = false
  try {
    locks.push(await lockFile(delta, { wait: true, onWait: log, waitAtMostMs: HOOK_LOCK_WAIT_MS }))
    if (existsSync(delta)) throw new VmaError('VMA_EXISTS', -1, `${basename(delta)} already exists`)
    if (!existsSync(previous)) throw new VmaError('VMA_IO', -1, `${basename(previous)} is gone`)
    // The delta replaces the archive: it keeps who may read it (owner, mode, ACLs), as an in-place optimize does.
    const st = statSync(previous)
    const d = await diff(base, previous, delta, { tmpdir: o.tmpdir, zstdThreads: o.zstdThreads, keepMetadataOf: { path: previous, uid: st.uid, gid: st.gid, mode: st.mode } })
    published = true
    // The chain base + delta must give back exactly what the old archive held.
    const check = await verifyChain(base, [delta], { tmpdir: o.tmpdir ?? dirname(previous) })
    const why = identityDifference(check.target, d.targetIdentity)
    if (why) throw new VmaError('VMA_DIGEST_MISMATCH', -1, `${basename(delta)} does not reproduce ${basename(previous)}: ${why}`)
    unlinkSync(previous)
    // The hook's protection went with the archive; a person's cannot be here (such an archive is not converted).
    if (protectionOf(previous) === 'vma-opt') unlinkSync(`${previous}.protected`)
    // Proxmox's notes travel with the delta; the .log file is named without the suffix and stays.
    if (existsSync(`${previous}.notes`)) {
      try {
        renameSync(`${previous}.notes`, `${delta}.notes`)
      } catch {
        // the notes stay under the old name: harmless
      }
    }
    await syncDir(dirname(previous))
    log(`vma-opt: ${basename(previous)} is now the reverse delta ${basename(delta)} (${humanBytes(d.outputBytes)}, ${d.heldClusters} of ${d.clusters} clusters), proven against ${basename(base)}`)
    return delta
  } catch (e) {
    if (published && existsSync(previous)) {
      try {
        unlinkSync(delta)
      } catch {
        // nothing more to undo: the old archive is still there
      }
    }
    throw e
  } finally {
    for (const l of locks) l.release()
  }
}

/** One warning line per missing link, every night until a person mends it. */
function reportBroken(chains: GuestChains, vmid: string, result: ReverseDeltaResult, log: (line: string) => void): void {
  const byMissing = new Map<string, string[]>()
  for (const b of chains.broken) {
    if (b.unreadable) {
      result.broken.push(b.delta)
      log(`vma-opt: WARNING: ${b.delta} is named like a reverse delta of VM ${vmid} but cannot be read: ${b.missing}; move it away, or delete it`)
    } else byMissing.set(b.missing, [...(byMissing.get(b.missing) ?? []), b.delta])
  }
  for (const [missing, names] of byMissing) {
    result.broken.push(...names)
    log(
      `vma-opt: WARNING: reverse delta${names.length > 1 ? 's' : ''} of VM ${vmid} cannot be restored: ${names.join(', ')} need${names.length > 1 ? '' : 's'} ${missing}, which is not in ${chains.dir}; put that file back, or delete ${names.length > 1 ? 'these deltas' : 'this delta'}`,
    )
  }
}

/** Removes the guest's deltas that apply beyond the newest `keep`, oldest first; returns their names. */
function pruneDeltas(chains: GuestChains, keep: number, log: (line: string) => void): string[] {
  const applying = chains.deltas.filter(d => chains.rootOf.has(d.name))
  const gone: string[] = []
  const removed = new Set<string>()
  for (const d of applying.slice(Math.max(0, keep)).reverse()) {
    // Never one that another delta still applies through.
    if (chains.deltas.some(o => !removed.has(o.name) && chains.parentOf.get(o.name) === d.name)) continue
    const path = join(chains.dir, d.name)
    unlinkSync(path)
    // The backup's side files go with it: its notes (moved to the delta) and vzdump's task log, named without the suffix.
    for (const side of [`${path}.notes`, path.replace(DELTA_NAME, '.log')]) if (existsSync(side)) unlinkSync(side)
    removed.add(d.name)
    gone.push(d.name)
    log(`vma-opt: removed ${d.name} (--keep-deltas ${keep})`)
  }
  return gone
}

/**
 * Every full archive that deltas apply to, and the new backup (which the
 * next night turns into a delta; with keep-last=1 vzdump would prune it
 * first), gets a protection file, so that vzdump's next prune (which runs
 * before the hook) keeps it; the hook's own protection files of archives
 * that no longer need one are removed.
 */
async function protectChainEnds(chains: GuestChains, newest: string | undefined, result: ReverseDeltaResult, log: (line: string) => void): Promise<void> {
  const counts = new Map<string, number>()
  for (const root of chains.rootOf.values()) counts.set(root, (counts.get(root) ?? 0) + 1)
  let changed = false
  for (const a of chains.archives) {
    const path = join(chains.dir, a.name)
    const n = counts.get(a.name) ?? 0
    const why = n > 0 ? `${n} reverse delta${n > 1 ? 's apply' : ' applies'} to it` : a.name === newest ? 'the next backup turns it into a reverse delta' : undefined
    if (why && a.protection === undefined) {
      const fd = openSync(`${path}.protected`, 'wx', 0o644)
      try {
        writeSync(fd, `${PROTECTION_MARK}: ${why}. vzdump does not prune a protected backup; removing this file lets it.\n`)
      } finally {
        closeSync(fd)
      }
      changed = true
      result.protectedNow.push(a.name)
      log(`vma-opt: ${a.name} is protected from pruning: ${why}`)
    } else if (!why && a.protection === 'vma-opt') {
      unlinkSync(`${path}.protected`)
      changed = true
      result.unprotected.push(a.name)
      log(`vma-opt: ${a.name} is no longer protected: no reverse delta applies to it`)
    }
  }
  if (changed) await syncDir(chains.dir)
}
