// A delta's file name ends in .vma-delta (plus .zst, .gz or .lzo): Proxmox's
// backup listing and prune match only vzdump-*.vma*, ... as archives, and a
// glob for *.vma* still tells the two apart by the dash.

import { VmaError } from '../util/errors.js'

export const DELTA_NAME = /\.vma-delta(\.(zst|gz|lzo))?$/

export function checkDeltaName(path: string): void {
  if (!DELTA_NAME.test(path)) {
    throw new VmaError('VMA_USAGE', -1, `a delta's name must end in .vma-delta (optionally .zst, .gz or .lzo): ${path}`)
  }
}

/** The delta name for an archive name: vzdump-....vma.zst -> vzdump-....vma-delta.zst. */
export function deltaNameFor(archive: string): string {
  const m = /\.vma(\.(zst|gz|lzo))?$/.exec(archive)
  if (!m) throw new VmaError('VMA_USAGE', -1, `not an archive name ending in .vma[.zst|.gz|.lzo]: ${archive}`)
  return archive.slice(0, m.index) + '.vma-delta' + (m[1] ?? '')
}
