import { createHash, type Hash } from 'node:crypto'
import type { TrimDisk } from './disk/disk.js'
import type { Range } from './ranges.js'

/** A byte range the decisions rested on, and the sha256 of its bytes at planning time. */
export interface GuardedRange {
  offset: number
  length: number
  sha256: string
}

const STEP = 4 << 20

/** Feeds device bytes [offset, offset+length) to `h`, read in bounded steps. */
export async function hashRange(disk: TrimDisk, offset: number, length: number, h: Hash): Promise<void> {
  const buf = Buffer.alloc(Math.min(STEP, length))
  for (let done = 0; done < length; ) {
    const n = Math.min(buf.length, length - done)
    const part = buf.subarray(0, n)
    await disk.read(part, offset + done)
    h.update(part)
    done += n
  }
}

/** sha256 of device bytes [offset, offset+length). */
export async function digestRange(disk: TrimDisk, offset: number, length: number): Promise<string> {
  const h = createHash('sha256')
  await hashRange(disk, offset, length, h)
  return h.digest('hex')
}

export async function guardRanges(disk: TrimDisk, ranges: Range[]): Promise<GuardedRange[]> {
  const out: GuardedRange[] = []
  for (const [offset, length] of ranges) out.push({ offset, length, sha256: await digestRange(disk, offset, length) })
  return out
}

/** Re-reads every guarded range from `disk`; the first that differs, or undefined. */
export async function firstChangedRange(disk: TrimDisk, guarded: GuardedRange[]): Promise<GuardedRange | undefined> {
  for (const g of guarded) if ((await digestRange(disk, g.offset, g.length)) !== g.sha256) return g
  return undefined
}
