// Integer option values, read exactly: decimal digits and nothing else, in a
// range. Number() would take '' as 0, 'abc' as NaN, '0x10' as 16 and '1.5'
// as 1.5; each of those, baked into a hook or passed to zstd, fails much
// later and far from the typo.

import { VmaError } from './errors.js'

export interface IntegerRange {
  min: number
  max: number
}

/** The value of option `name` (its text as given) as an integer in range, or a VMA_USAGE error. */
export function parseInteger(name: string, text: string, range: IntegerRange): number {
  const n = /^[0-9]{1,16}$/.test(text) ? Number(text) : NaN
  if (!Number.isSafeInteger(n) || n < range.min || n > range.max) {
    throw new VmaError('VMA_USAGE', -1, `${name} takes a whole number from ${range.min} to ${range.max}, got ${JSON.stringify(text)}`)
  }
  return n
}

/** zstd's own limit on worker threads (ZSTDMT_NBWORKERS_MAX on 64-bit); 0 means one per core. */
export const ZSTD_THREADS: IntegerRange = { min: 0, max: 256 }

/** serve --idle-timeout, in seconds: up to what a Node timer holds (2^31 ms); 0 means none. */
export const IDLE_SECONDS: IntegerRange = { min: 0, max: 2147483 }

/** How many reverse deltas the hook keeps per guest. */
export const KEEP_DELTAS: IntegerRange = { min: 0, max: 100000 }
