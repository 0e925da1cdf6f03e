// The yargs option for every integer option of every command: read as text
// and checked at parse time (parseInteger), so `--zstd-threads abc` is a
// usage error (exit 2) before any file is opened. Commands never declare a
// yargs number option (test/hook-install.test.ts checks).

import { parseInteger, type IntegerRange } from '../util/integer.js'

/** What integerOption returns: typed so that the handler sees a number (with a default) or number | undefined. */
export interface IntegerOption {
  type: 'string'
  requiresArg: true
  describe: string
  default?: number
  coerce: (v: unknown) => number
}

export function integerOption(name: string, describe: string, range: IntegerRange): IntegerOption
export function integerOption(name: string, describe: string, range: IntegerRange, defaultValue: number): IntegerOption & { default: number }
export function integerOption(name: string, describe: string, range: IntegerRange, defaultValue?: number): IntegerOption {
  return {
    type: 'string',
    requiresArg: true,
    describe: `${describe} [integer ${range.min}..${range.max}]`,
    ...(defaultValue !== undefined ? { default: defaultValue } : {}),
    // Given twice: each value is checked, the last one wins (as for every single-value option).
    coerce: (v: unknown) => {
      const values: unknown[] = Array.isArray(v) ? v : [v]
      let last = 0 // yargs gives at least one value (requiresArg)
      for (const x of values) last = typeof x === 'number' ? parseInteger(`--${name}`, String(x), range) : parseInteger(`--${name}`, String(x ?? ''), range)
      return last
    },
  }
}

export { IDLE_SECONDS, KEEP_DELTAS, ZSTD_THREADS } from '../util/integer.js'
