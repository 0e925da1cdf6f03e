// The options of the commands that write a chain's newest archive in full
// (apply, rebuild): one set, so that both take and describe them alike.

import type { Argv } from 'yargs'
import type { ApplyOptions } from '../delta/apply.js'
import type { CliIO } from './cli-io.js'
import { integerOption, ZSTD_THREADS } from './integer-option.js'
import { makeProgress, type Progress } from './progress.js'
import { lockOptionsFrom, WAIT_OPTION } from './wait-option.js'

export function chainOutputOptions<T>(y: Argv<T>) {
  return y
    .option('compress', { choices: ['zstd', 'gzip', 'lzo', 'none'] as const, describe: 'output compression (default: from the name)' })
    .option('tmpdir', { type: 'string', describe: 'spool and temp directory (default: next to OUT)' })
    .option('zstd-threads', integerOption('zstd-threads', 'zstd worker threads for .zst output', ZSTD_THREADS, 1))
    .option('force', { type: 'boolean', describe: "replace an existing OUT (never one of the chain's own files)" })
    .option('space-check', { type: 'boolean', default: true, describe: 'refuse at once when the output clearly cannot fit in the free space of its filesystem (--no-space-check skips)' })
    .option('json', { type: 'boolean', describe: 'print a JSON summary' })
    .option('wait', WAIT_OPTION)
    .option('quiet', { alias: 'q', type: 'boolean', describe: 'no summary line, no progress' })
}

/** The options above, as a handler reads them. */
export interface ChainOutputArgs {
  compress?: 'zstd' | 'gzip' | 'lzo' | 'none'
  tmpdir?: string
  zstdThreads?: number
  force?: boolean
  spaceCheck?: boolean
  wait?: boolean
  quiet?: boolean
}

/** What apply() takes from those options, and the progress line (labelled `label`) it reports to. */
export function applyOptionsFrom(args: ChainOutputArgs, io: CliIO, label: string): { options: ApplyOptions; progress: Progress } {
  const progress = makeProgress(io.stderr, label, 0, !!args.quiet)
  const options: ApplyOptions = {
    lock: lockOptionsFrom(args, io),
    force: args.force,
    stdout: io.stdout,
    tmpdir: args.tmpdir,
    compress: args.compress === 'lzo' ? 'lzop' : args.compress,
    zstdThreads: args.zstdThreads,
    noSpaceCheck: !args.spaceCheck,
    progress: (phase, done) => progress.update(done, phase, -1),
  }
  return { options, progress }
}
