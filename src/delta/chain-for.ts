// What restoring one reverse delta takes: the full archive its chain ends on
// and the deltas from there to it, found in the delta's own directory from
// the files' headers (delta/backup-chains), so nobody writes the chain by hand.

import { basename, dirname, join } from 'node:path'
import { VmaError } from '../util/errors.js'
import { ARCHIVE, DELTA, readGuestChains } from './backup-chains.js'

export interface RestoreChain {
  /** The full archive the chain ends on. */
  base: string
  /** The deltas in chain order: the one made against `base` first, the delta asked for last. */
  deltas: string[]
}

/** The chain that gives back `delta`'s backup; a full archive needs none. */
export async function chainFor(path: string): Promise<RestoreChain> {
  const dir = dirname(path)
  const name = basename(path)
  const m = DELTA.exec(name) ?? ARCHIVE.exec(name)
  if (!m) throw new VmaError('VMA_USAGE', -1, `${path}: not a vzdump backup name (vzdump-qemu-VMID-DATE.vma[-delta][.zst|.gz|.lzo])`)
  const chains = await readGuestChains(dir, m[1]!)
  if (chains.archives.some(a => a.name === name)) return { base: path, deltas: [] }
  if (!chains.deltas.some(d => d.name === name)) throw new VmaError('VMA_IO', -1, `${path}: no such backup`)
  const broken = chains.broken.find(b => b.delta === name)
  if (broken) throw new VmaError('VMA_DELTA_CHAIN', -1, `${path} cannot be restored: it needs ${broken.missing}, which is not in ${dir}`)
  const deltas: string[] = []
  let at: string | undefined = name
  // readGuestChains followed every link to a full archive (and refused loops): this walk ends.
  while (at !== undefined && !chains.archives.some(a => a.name === at)) {
    deltas.push(at)
    at = chains.parentOf.get(at)
  }
  if (at === undefined) throw new VmaError('VMA_DELTA_CHAIN', -1, `${path} cannot be restored: its chain reaches no full archive in ${dir}`)
  return { base: join(dir, at), deltas: deltas.reverse().map(d => join(dir, d)) }
}
