// Opens BASE and the deltas of a chain, newest last as given, and checks
// that each delta was made against what the one before it produces: the
// first against BASE's identity (which needs BASE's content digests, so BASE
// is read once in full), every other against its predecessor's target. A
// wrong base, a wrong order or a missing link is refused here, before
// anything is written.

import type { Readable } from 'node:stream'
import { identityDifference, type ArchiveIdentity } from '../format/delta-identity.js'
import { VmaError } from '../util/errors.js'
import { openInput, type ArchiveInput } from '../input/archive-input.js'
import { indexArchive, type IndexedArchive } from '../archive/index-archive.js'
import { deltaIdentities, identityOf, type DeltaIdentities } from '../archive/archive-identity.js'

export interface ChainLink {
  label: string
  indexed: IndexedArchive
  /** Set for the deltas, not for BASE. */
  identities?: DeltaIdentities
}

export interface Chain {
  base: ChainLink
  /** In chain order: deltas[0] applies to BASE. */
  deltas: ChainLink[]
  /** BASE's identity, as read. */
  baseIdentity: ArchiveIdentity
  /** What the newest link must reproduce (BASE's own identity when there are no deltas). */
  target: ArchiveIdentity
  /** Newest first, BASE last: the order in which a cluster is looked for. */
  newestFirst: ChainLink[]
  release(): Promise<void>
}

export interface ChainOptions {
  stdin?: Readable
  spoolDir: string
  progress?: (bytes: number) => void
}

export async function openChain(base: string, deltas: string[], o: ChainOptions): Promise<Chain> {
  if ([base, ...deltas].filter(p => p === '-').length > 1) throw new VmaError('VMA_USAGE', -1, 'only one input can be stdin')
  const inputs: ArchiveInput[] = []
  const links: ChainLink[] = []
  const release = async () => {
    for (const l of links.splice(0)) await l.indexed.release()
    for (const i of inputs.splice(0)) await i.close()
  }
  try {
    for (const [k, src] of [base, ...deltas].entries()) {
      const input = await openInput(src, { stdin: o.stdin })
      inputs.push(input)
      try {
        // BASE's content digests are its identity; a delta's content is proven by the result.
        const indexed = await indexArchive(input, { spoolDir: o.spoolDir, digest: k === 0, allowDelta: k > 0, progress: k === 0 ? o.progress : undefined })
        links.push({ label: input.label, indexed, identities: k > 0 ? deltaIdentities(indexed.header, input.label) : undefined })
      } catch (e) {
        if (e instanceof VmaError && e.code === 'VMA_IS_DELTA') {
          throw new VmaError('VMA_IS_DELTA', -1, `BASE must be a full archive, and ${input.label} is a delta (the full archive comes first, then the deltas)`)
        }
        if (e instanceof VmaError) e.file ??= input.label
        throw e
      }
    }
    const baseIdentity = identityOf(links[0]!.indexed.header, links[0]!.indexed.digests)
    checkLinks(links, baseIdentity)
    const chainDeltas = links.slice(1)
    return {
      base: links[0]!,
      deltas: chainDeltas,
      baseIdentity,
      target: chainDeltas.length ? chainDeltas[chainDeltas.length - 1]!.identities!.target : baseIdentity,
      newestFirst: [...links].reverse(),
      release,
    }
  } catch (e) {
    await release()
    throw e
  }
}

/** Each delta must apply to what the link before it produces. */
function checkLinks(links: ChainLink[], baseIdentity: ArchiveIdentity): void {
  let have = baseIdentity
  for (let k = 1; k < links.length; k++) {
    const l = links[k]!
    const { base, target } = l.identities!
    const why = identityDifference(base, have)
    if (why) {
      const prev = k === 1 ? `BASE ${links[0]!.label}` : `${links[k - 1]!.label} applied`
      let hint = k === 1 ? 'it was made against another archive' : 'a delta between them is missing, or the order is wrong'
      const fits = links.findIndex((x, j) => j > 0 && j !== k && !identityDifference(x.identities!.base, have))
      if (fits > 0) hint = `the deltas are out of order: ${links[fits]!.label} comes next`
      else if (k > 1 && !identityDifference(base, baseIdentity)) hint = 'it was made against BASE itself (a differential delta): apply it alone'
      throw new VmaError('VMA_DELTA_CHAIN', -1, `${l.label} does not apply to ${prev}: ${why}; ${hint}`)
    }
    have = target
  }
}
