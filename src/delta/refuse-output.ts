// Where apply, rebuild and diff write: never over one of their own inputs, and
// over an existing file only with --force.

import { statSync, type Stats } from 'node:fs'
import { VmaError } from '../util/errors.js'

/**
 * OUT is never one of the chain's own files (rebuilding a delta's day over
 * the full archive it rests on would lose the newest backup and break the
 * chain), and an existing OUT is replaced only with --force, as optimize and
 * pack do.
 */
export function refuseOutput(out: string, inputs: string[], force: boolean): void {
  const st = statOrUndefined(out)
  if (!st) return
  for (const i of inputs) {
    const s = i === '-' ? undefined : statOrUndefined(i)
    if (s && s.dev === st.dev && s.ino === st.ino)
      throw new VmaError('VMA_USAGE', -1, `${out} is ${i === out ? 'one of the inputs' : `the same file as the input ${i}`}: write the result to another name`)
  }
  if (!force) throw new VmaError('VMA_EXISTS', -1, `${out} exists; use --force to replace it`)
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path)
  } catch {
    return undefined
  }
}
