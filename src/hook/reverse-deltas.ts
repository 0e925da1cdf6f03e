// Reverse incremental backups at vzdump's backup-end (README, "Reverse
// deltas"): the new backup stays a full, ordinary archive; the previous
// backup of the same guest in the same dump directory becomes a reverse
// delta against it (vzdump-qemu-ID-TIME.vma-delta[.zst]), and is removed only
// after the chain new archive + delta has been proven to reproduce the old
// archive's every device, config and ctime. The new backup is only read.
// Deltas beyond --keep-deltas N are removed, oldest first (the oldest is the
// end of the chain, so no remaining delta depends on it).
//
// Anything that fails leaves the old archive in place and removes the delta
// this run wrote; the error is the caller's to log.

import { existsSync, readdirSync, renameSync, unlinkSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { diff } from '../delta/diff.js'
import { deltaNameFor } from '../delta/delta-name.js'
import { verifyChain } from '../delta/verify-chain.js'
import { identityDifference } from '../format/delta-identity.js'
import { syncDir } from '../output/output-file.js'
import { EXIT_IO, VmaError } from '../util/errors.js'
import { humanBytes } from '../util/human.js'

export interface ReverseDeltaOptions {
  /** Keep at most this many deltas of the guest (default: all). */
  keepDeltas?: number
  tmpdir?: string
  zstdThreads?: number
  log?: (line: string) => void
}

export interface ReverseDeltaResult {
  /** The archive that became a delta (removed), when one did. */
  previous?: string
  delta?: string
  /** Why nothing was converted, when nothing was. */
  skipped?: string
  /** Deltas removed by --keep-deltas. */
  pruned: string[]
}

/** vzdump's names for VM backups: vzdump-qemu-VMID-YYYY_MM_DD-hh_mm_ss.vma[.zst|.gz|.lzo]. */
const ARCHIVE = /^vzdump-qemu-(\d+)-(\d{4}_\d\d_\d\d-\d\d_\d\d_\d\d)\.vma(\.(zst|gz|lzo))?$/
const DELTA = /^vzdump-qemu-(\d+)-(\d{4}_\d\d_\d\d-\d\d_\d\d_\d\d)\.vma-delta(\.(zst|gz|lzo))?$/

interface Named {
  name: string
  vmid: string
  time: string
}

function scan(dir: string, re: RegExp): Named[] {
  const out: Named[] = []
  for (const name of readdirSync(dir)) {
    const m = re.exec(name)
    if (m) out.push({ name, vmid: m[1]!, time: m[2]! })
  }
  return out
}

/**
 * The hook's step after the new backup is optimized: never throws; any
 * failure is logged as a warning (the old archive stays) and fails the
 * backup only with --strict. Returns the exit status for vzdump.
 */
export async function runReverseDeltas(target: string, o: ReverseDeltaOptions & { strict?: boolean }, log: (line: string) => void): Promise<number> {
  try {
    const r = await reverseDeltaAfterBackup(target, { ...o, log })
    if (r.skipped) log(`vma-opt: no reverse delta: ${r.skipped}`)
    return 0
  } catch (e) {
    const msg = e instanceof VmaError ? `${e.message} (${e.code})` : `internal error: ${(e as Error)?.message ?? e}`
    log(`vma-opt: WARNING: the previous backup was not turned into a reverse delta: ${msg}; it was left as it is`)
    return o.strict ? (e instanceof VmaError ? e.exitCode : EXIT_IO) : 0
  }
}

export async function reverseDeltaAfterBackup(target: string, o: ReverseDeltaOptions = {}): Promise<ReverseDeltaResult> {
  const log = o.log ?? (() => undefined)
  if (o.keepDeltas !== undefined && !(Number.isSafeInteger(o.keepDeltas) && o.keepDeltas >= 0)) {
    throw new VmaError('VMA_USAGE', -1, `--keep-deltas needs a whole number of deltas, not ${o.keepDeltas}`)
  }
  const dir = dirname(target)
  const m = ARCHIVE.exec(basename(target))
  if (!m) return { skipped: `${basename(target)} is not named like a vzdump VM backup`, pruned: [] }
  const [, vmid, time] = m as unknown as [string, string, string]
  // The names' timestamps sort as text; only backups older than this one qualify.
  const older = scan(dir, ARCHIVE)
    .filter(a => a.vmid === vmid && a.time < time)
    .sort((a, b) => (a.time < b.time ? 1 : -1))
  const prev = older[0]
  const result: ReverseDeltaResult = { pruned: [] }
  if (!prev) result.skipped = `no earlier backup of VM ${vmid} in ${dir}`
  else if (existsSync(join(dir, `${prev.name}.protected`))) result.skipped = `${prev.name} is protected; it stays a full archive`
  else await convert(target, join(dir, prev.name), o, result, log)
  if (o.keepDeltas !== undefined) result.pruned = pruneDeltas(dir, vmid, o.keepDeltas, log)
  return result
}

/** Turns `previous` into a reverse delta against `target`, proven before `previous` is removed. */
async function convert(target: string, previous: string, o: ReverseDeltaOptions, result: ReverseDeltaResult, log: (line: string) => void): Promise<void> {
  const delta = deltaNameFor(previous)
  if (existsSync(delta)) throw new VmaError('VMA_EXISTS', -1, `${basename(delta)} already exists; ${basename(previous)} was left as it is`)
  let published = false
  try {
    const d = await diff(target, previous, delta, { tmpdir: o.tmpdir, zstdThreads: o.zstdThreads })
    published = true
    // The chain new archive + delta must give back exactly what the old archive held.
    const check = await verifyChain(target, [delta], { tmpdir: o.tmpdir ?? dirname(previous) })
    const why = identityDifference(check.target, d.targetIdentity)
    if (why) throw new VmaError('VMA_DIGEST_MISMATCH', -1, `${basename(delta)} does not reproduce ${basename(previous)}: ${why}`)
    unlinkSync(previous)
    // Proxmox's notes travel with the delta; the .log file is named without the suffix and stays.
    if (existsSync(`${previous}.notes`)) {
      try {
        renameSync(`${previous}.notes`, `${delta}.notes`)
      } catch {
        // the notes stay under the old name: harmless
      }
    }
    await syncDir(dirname(previous))
    log(`vma-opt: ${basename(previous)} is now the reverse delta ${basename(delta)} (${humanBytes(d.outputBytes)}, ${d.heldClusters} of ${d.clusters} clusters), proven against ${basename(target)}`)
    result.previous = previous
    result.delta = delta
  } catch (e) {
    if (published && existsSync(previous)) {
      try {
        unlinkSync(delta)
      } catch {
        // nothing more to undo: the old archive is still there
      }
    }
    throw e
  }
}

/** Removes the guest's deltas beyond the newest `keep`, oldest first; returns their names. */
function pruneDeltas(dir: string, vmid: string, keep: number, log: (line: string) => void): string[] {
  const deltas = scan(dir, DELTA)
    .filter(d => d.vmid === vmid)
    .sort((a, b) => (a.time < b.time ? 1 : -1))
  const gone: string[] = []
  for (const d of deltas.slice(Math.max(0, keep)).reverse()) {
    unlinkSync(join(dir, d.name))
    if (existsSync(join(dir, `${d.name}.notes`))) unlinkSync(join(dir, `${d.name}.notes`))
    gone.push(d.name)
    log(`vma-opt: removed ${d.name} (--keep-deltas ${keep})`)
  }
  return gone
}
