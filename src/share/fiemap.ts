// Where a file's data lies on disk and which of it is shared with other
// files: FIEMAP, through xfs_io's `fiemap -v` (the program sharing already
// needs; spec/sharing.md says why not a native binding). Each extent is a
// line: "   1: [8..16639]:      269064..285695   16632 0x2000", offsets in
// 512-byte units, flags in hex; holes say "hole" and hold nothing.

import { VmaError } from '../util/errors.js'
import { spawnGuarded } from '../util/spawn-guarded.js'

/** FIEMAP_EXTENT_SHARED: the blocks are also referenced by another file (or snapshot). */
const SHARED = 0x2000
/** FIEMAP_EXTENT_UNKNOWN, FIEMAP_EXTENT_DELALLOC: no place on disk yet (xfs_io fsyncs first, so rare). */
const NOT_PLACED = 0x2 | 0x4

/** FIEMAP_EXTENT_DATA_INLINE: kept inside metadata (btrfs, small files), no place of its own. */
const INLINE = 0x200

/** One extent of a file: its physical place (bytes; -1 for inline data) and whether it is shared. */
export interface PhysicalExtent {
  physical: number
  length: number
  shared: boolean
}

const LINE = /^\s*\d+: \[(\d+)\.\.(\d+)\]:\s+(\d+)\.\.(\d+)\s+(\d+)\s+0x([0-9a-f]+)\s*$/

/**
 * The extents of `file` (after an fsync, so that delayed allocations have a
 * place), or undefined when the filesystem has no FIEMAP (tmpfs). Calls
 * `each` per extent, so that a file of many extents needs no list.
 */
export async function fiemap(xfsIo: string, file: string, each: (e: PhysicalExtent) => void): Promise<boolean> {
  const child = spawnGuarded(xfsIo, ['-r', '-c', 'fsync', '-c', 'fiemap -v', file], { stdio: ['ignore', 'pipe', 'pipe'] })
  let tail = ''
  let err = ''
  const line = (l: string) => {
    const m = LINE.exec(l)
    if (!m) return
    const flags = parseInt(m[6]!, 16)
    if (flags & NOT_PLACED) return
    const inline = (flags & INLINE) !== 0
    each({ physical: inline ? -1 : Number(m[3]) * 512, length: Number(m[5]) * 512, shared: !inline && (flags & SHARED) !== 0 })
  }
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    const lines = (tail + s).split('\n')
    tail = lines.pop()!
    for (const l of lines) line(l)
  })
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s))
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', e => reject(new VmaError('VMA_TOOL_MISSING', -1, `cannot run xfs_io: ${e.message}`)))
    child.on('close', resolve)
  })
  line(tail)
  if (/not supported/i.test(err)) return false
  if (code !== 0 || err.trim()) throw new VmaError('VMA_IO', -1, `xfs_io fiemap ${file}: ${err.trim().split('\n')[0] ?? `exit status ${code}`}`)
  return true
}
