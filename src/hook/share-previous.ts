// The hook's --share-blocks step (docs/sharing.md, "In the vzdump hook"):
// which archive the new backup shares its blocks with, and whether the dump
// directory can share at all. The new backup is optimized into the aligned
// form and shares every identical 4 KiB block with the guest's newest earlier
// uncompressed backup in the same directory; that one shares with the one
// before it, and so on, so each night costs what changed. Nothing here ever
// fails a backup: where sharing cannot work the hook says why in one line
// and optimizes as it would without --share-blocks.

import { readdirSync, statSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { ARCHIVE } from '../delta/backup-chains.js'
import { probeSharing } from '../share/share-blocks.js'

/** The guest's newest backup in `target`'s directory older than `target` that can share blocks (an uncompressed .vma), if any. */
export function previousBackup(target: string): string | undefined {
  const m = ARCHIVE.exec(basename(target))
  if (!m) return undefined
  const [, vmid, time] = m
  let best: { time: string; path: string } | undefined
  for (const name of readdirSync(dirname(target))) {
    const o = ARCHIVE.exec(name)
    // A compressed archive holds no block of the new one at the same place.
    if (!o || o[1] !== vmid || o[3] !== undefined || o[2]! >= time!) continue
    const path = join(dirname(target), name)
    try {
      if (!statSync(path).isFile()) continue
    } catch {
      continue // gone meanwhile (a prune)
    }
    if (!best || o[2]! > best.time) best = { time: o[2]!, path }
  }
  return best?.path
}

/** What the hook does about --share-blocks for `target`: the archives to share with, or why it shares nothing. */
export async function sharePlanFor(target: string): Promise<{ shareWith: string[] } | { why: string }> {
  if (!target.endsWith('.vma'))
    return { why: 'a compressed backup cannot share blocks: set compress: 0 for this job and let the storage compress (btrfs compress=zstd); backup optimized as without --share-blocks' }
  const why = await probeSharing(dirname(target))
  if (why) return { why: `${why.replace(/: nothing shared$/, '')}; backup optimized as without --share-blocks` }
  const prev = previousBackup(target)
  return { shareWith: prev ? [prev] : [] }
}
