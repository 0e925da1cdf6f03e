// vma-opt apply BASE DELTA... OUT: the full archive of the newest link of a
// chain, in the optimized form: byte for byte what `vma-opt optimize` makes
// of the archive the newest delta was made from. The chain is checked link
// by link first (open-chain); then every cluster is taken from the newest
// link that holds it (chain-cluster-reader) and written once, by the same
// writer as optimize, whose read-back proof compares the result with the
// identity the newest delta recorded before anything is published.

import { refuseOutput } from './refuse-output.js'
import { tmpdir } from 'node:os'
import { dirname } from 'node:path'
import type { Readable, Writable } from 'node:stream'
import { withFileLock, type LockOptions } from '../util/file-lock.js'
import { VmaError } from '../util/errors.js'
import type { IdentityDevice } from '../format/delta-identity.js'
import { compressionFromName, type OutputCompression } from '../output/output-file.js'
import { writeArchive } from '../archive/write-archive.js'
import { archiveBound, checkSpace } from '../output/space-check.js'
import { ChainClusterReader } from './chain-cluster-reader.js'
import { chainOutput } from './chain-output.js'
import { chainMismatch } from './chain-mismatch.js'
import { DELTA_NAME } from './delta-name.js'
import { openChain } from './open-chain.js'

export interface ApplyOptions {
  lock?: LockOptions
  /** Replace an existing OUT (never one of the inputs). */
  force?: boolean
  stdin?: Readable
  stdout?: Writable
  /** Spool files, and the temp output when OUT is stdout (default: next to OUT, or the system temp dir). */
  tmpdir?: string
  compress?: OutputCompression
  zstdThreads?: number
  progress?: (phase: 'reading' | 'writing' | 'proving', done: number) => void
  /** Skip the up-front free-space check (output/space-check). */
  noSpaceCheck?: boolean
}

export interface ApplyResult {
  base: string
  deltas: string[]
  dest: string
  plainBytes: number
  outputBytes: number
  devices: IdentityDevice[]
  seconds: number
}

export async function apply(base: string, deltas: string[], out: string, o: ApplyOptions = {}): Promise<ApplyResult> {
  return withFileLock(out === '-' ? undefined : out, o.lock, () => applyLocked(base, deltas, out, o)) // util/file-lock
}

async function applyLocked(base: string, deltas: string[], out: string, o: ApplyOptions): Promise<ApplyResult> {
  const t0 = Date.now()
  if (deltas.length === 0) throw new VmaError('VMA_USAGE', -1, 'name at least one delta')
  const toStdout = out === '-'
  if (!toStdout && DELTA_NAME.test(out)) throw new VmaError('VMA_USAGE', -1, `${out}: apply writes a full archive, not a .vma-delta`)
  if (!toStdout) refuseOutput(out, [base, ...deltas], !!o.force)
  const workDir = o.tmpdir ?? (toStdout ? tmpdir() : dirname(out))
  const chain = await openChain(base, deltas, { stdin: o.stdin, spoolDir: workDir, progress: n => o.progress?.('reading', n) })
  try {
    const { fields, devices, expected } = chainOutput(chain)
    if (!toStdout && !o.noSpaceCheck) {
      // Every block the result stores is stored by some link: their sum bounds it.
      const storedBlocks = chain.newestFirst.reduce((n, l) => n + l.indexed.tracker.devices.reduce((m, d) => m + (d?.storedBlocks ?? 0), 0), 0)
      const clusters = devices.reduce((n, d) => n + d.clusters, 0)
      await checkSpace(out, archiveBound({ clusters, storedBlocks, devices: devices.length }), { what: 'at most, from the blocks the base and the deltas store' })
    }
    const reader = new ChainClusterReader(chain.newestFirst)
    // What the output is proven against is the identity the newest delta
    // recorded, not a digest of data read before (chain-mismatch says whose
    // fault a mismatch is).
    const w = await writeArchive(fields, devices, reader, {
      path: toStdout ? undefined : out,
      noClobber: !o.force, // an OUT that appears meanwhile is not replaced either
      workDir,
      compression: o.compress ?? (toStdout ? 'none' : compressionFromName(out)),
      zstdThreads: o.zstdThreads,
      stdout: o.stdout,
      expected: () => expected,
      what: 'applied',
      progress: o.progress,
      written: () => chain.release(),
      mismatch: what => chainMismatch(chain, what, "vma-opt's applied archive failed its read-back check"),
    })
    return {
      base: chain.base.label,
      deltas: chain.deltas.map(d => d.label),
      dest: out,
      plainBytes: w.plainBytes,
      outputBytes: w.outputBytes,
      devices: chain.target.devices,
      seconds: (Date.now() - t0) / 1000,
    }
  } finally {
    await chain.release()
  }
}
