// What archives cost on a filesystem that shares blocks (vma-opt du): per
// file its size, the bytes it shares with other files, and the bytes it
// alone holds (what deleting it would free); for the set, the bytes on disk,
// counting each shared block once. From FIEMAP (src/share/fiemap.ts).

import { stat } from 'node:fs/promises'
import { findTool } from '../util/find-tool.js'
import { VmaError, fromSystemError } from '../util/errors.js'
import { fiemap } from './fiemap.js'

export interface FileUsage {
  file: string
  /** Bytes of the file (its length). */
  size: number
  /** Bytes of it on disk in blocks that other files (or snapshots) reference too. */
  shared: number
  /** Bytes of it on disk that no other file references: what deleting it frees. */
  exclusive: number
}

export interface UsageTotal {
  files: number
  size: number
  /** Bytes on disk for all of them, every shared block counted once. */
  onDisk: number
  /** Of which in blocks shared (among them or with other files). */
  shared: number
}

export async function diskUsage(files: string[]): Promise<{ files: FileUsage[]; total: UsageTotal }> {
  const xfsIo = findTool('xfs_io')
  if (!xfsIo) throw new VmaError('VMA_TOOL_MISSING', -1, "du needs the 'xfs_io' program, which is not installed (Debian package: xfsprogs)")
  const out: FileUsage[] = []
  // The shared extents of all files: the set's bytes on disk count each once.
  const starts: number[] = []
  const lengths: number[] = []
  for (const file of files) {
    const st = await stat(file).catch(e => {
      throw fromSystemError(e, `cannot read ${file}`)
    })
    const u: FileUsage = { file, size: st.size, shared: 0, exclusive: 0 }
    const mapped = await fiemap(xfsIo, file, e => {
      if (!e.shared) u.exclusive += e.length
      else {
        u.shared += e.length
        starts.push(e.physical)
        lengths.push(e.length)
      }
    })
    // No FIEMAP (tmpfs): nothing is shared there, every allocated block is its own.
    if (!mapped) u.exclusive = st.blocks * 512
    out.push(u)
  }
  const sharedOnce = unionLength(starts, lengths)
  const exclusive = out.reduce((s, u) => s + u.exclusive, 0)
  return { files: out, total: { files: out.length, size: out.reduce((s, u) => s + u.size, 0), onDisk: exclusive + sharedOnce, shared: sharedOnce } }
}

/** Bytes covered by the union of the ranges [starts[i], starts[i] + lengths[i]). */
function unionLength(starts: number[], lengths: number[]): number {
  const order = starts.map((_, i) => i).sort((a, b) => starts[a]! - starts[b]!)
  let total = 0
  let end = -1
  for (const i of order) {
    const s = starts[i]!
    const e = s + lengths[i]!
    if (e <= end) continue
    total += e - Math.max(s, end)
    end = e
  }
  return total
}
