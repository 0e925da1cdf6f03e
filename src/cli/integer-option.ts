// The yargs option for every integer option of every command: read as text
// and checked at parse time (parseInteger), so `--zstd-threads abc` is a
// usage error (exit 2) before any file is opened. Commands never declare a
// yargs number option (test/hook-install.test.ts checks).

import type { Options } from 'yargs'
import { parseInteger, type IntegerRange } from '../util/integer.js'

export function integerOption(name: string, describe: string, range: IntegerRange, defaultValue?: number): Options {
  return {
    type: 'string',
    requiresArg: true,
    describe: `${describe} [integer ${range.min}..${range.max}]`,
    ...(defaultValue !== undefined ? { default: defaultValue } : {}),
    // Given twice: each value is checked, the last one wins (as for every single-value option).
    coerce: (v: unknown) => {
      const values = Array.isArray(v) ? v : [v]
      let last: number | undefined
      for (const x of values) last = typeof x === 'number' ? parseInteger(`--${name}`, String(x), range) : parseInteger(`--${name}`, String(x ?? ''), range)
      return last
    },
  }
}

export { KEEP_DELTAS, ZSTD_THREADS } from '../util/integer.js'
