// Checks a chain without writing anything: the newest archive is produced
// exactly as apply produces it, but into a parser that takes content digests
// instead of a file, and the digests must equal the newest delta's target
// identity. Costs one reading of the chain, no disk space.

import type { Readable } from 'node:stream'
import { tmpdir } from 'node:os'
import { ContentDigest } from '../check/content-digest.js'
import { ClusterTracker } from '../format/cluster-tracker.js'
import type { ArchiveIdentity } from '../format/delta-identity.js'
import { VmaParser } from '../format/vma-parser.js'
import { loadHasher } from '../util/hasher.js'
import { ProblemList } from '../util/problem.js'
import { emitOptimized } from '../archive/emit.js'
import { ChainClusterReader } from './chain-cluster-reader.js'
import { chainOutput } from './chain-output.js'
import { openChain, type Chain } from './open-chain.js'
import { chainMismatch, uncheckedDeltas } from './chain-mismatch.js'

export interface ChainCheck {
  base: string
  deltas: string[]
  /** What the newest delta says the chain reproduces; proven equal. */
  target: ArchiveIdentity
}

export async function verifyChain(base: string, deltas: string[], o: { stdin?: Readable; tmpdir?: string } = {}): Promise<ChainCheck> {
  const chain = await openChain(base, deltas, { stdin: o.stdin, spoolDir: o.tmpdir ?? tmpdir() })
  try {
    await proveChain(chain)
    return { base: chain.base.label, deltas: chain.deltas.map(d => d.label), target: chain.target }
  } finally {
    await chain.release()
  }
}

/** Produces the chain's newest archive into a digest and proves it equal to the newest delta's record. */
export async function proveChain(chain: Chain): Promise<void> {
  const { fields, devices, expected } = chainOutput(chain)
  const digest = new ContentDigest(await loadHasher())
  const parser = new VmaParser([new ClusterTracker(new ProblemList(true)), digest])
  await emitOptimized(fields, devices, new ChainClusterReader(chain.newestFirst), {
    write: async b => parser.write(b),
  })
  parser.end()
  const got = new Map(digest.result().map(d => [d.id, d]))
  for (const w of expected) {
    const d = got.get(w.id)
    if (!d || d.digest !== w.digest || d.size !== w.size || d.name !== w.name) {
      const what = d ? `${w.name} comes out with digest ${d.digest}, the delta recorded ${w.digest}` : `${w.name} is missing`
      throw chainMismatch(chain, what, "the chain's result differs from its record")
    }
  }
}

/**
 * For readers that take single clusters (serve): a DLT1 delta's clusters
 * carry no check, so a chain with one is proven whole once, before it is
 * used (one reading of the chain); `say` tells the user why start-up takes
 * longer. A chain of DLT2 deltas needs nothing: each cluster is checked
 * as it is read.
 */
export async function proveOldDeltas(chain: Chain, say: (line: string) => void): Promise<void> {
  const old = uncheckedDeltas(chain)
  if (old.length === 0) return
  say(`${old.join(', ')}: old delta format without per-cluster checks; checking the whole chain once before serving (vma-opt apply and diff again make deltas with checks)`)
  await proveChain(chain)
}
