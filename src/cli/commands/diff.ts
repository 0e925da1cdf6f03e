import type { Argv } from 'yargs'
import { command } from '../command.js'
import type { DiffResult } from '../../delta/diff.js'
import type { OutputCompression } from '../../output/output-file.js'
import { installSignalCleanup } from '../../util/temp-files.js'
import { integerOption, ZSTD_THREADS } from '../integer-option.js'
import type { CliIO, CommandResult } from '../cli-io.js'
import { humanBytes, thousands } from '../../util/human.js'
import { makeProgress } from '../progress.js'
import { WAIT_OPTION, lockOptionsFrom } from '../wait-option.js'

export function diffCommand(io: CliIO, result: CommandResult) {
  return command({
    command: 'diff <base> <new> <delta>',
    describe: "Write a delta: NEW's metadata and only the 64 KiB clusters that differ from BASE (restore with apply)",
    builder: (y: Argv) =>
      y
        .positional('base', { type: 'string', describe: 'the archive the delta will apply to (path or -)', demandOption: true })
        .positional('new', { type: 'string', describe: 'the archive the delta reproduces (path or -)', demandOption: true })
        .positional('delta', { type: 'string', describe: 'the delta to write: NAME.vma-delta, optionally .zst, .gz or .lzo', demandOption: true })
        .option('compress', { choices: ['zstd', 'gzip', 'lzo', 'none'] as const, describe: 'delta compression (default: from the name)' })
        .option('tmpdir', { type: 'string', describe: 'where a pipe or compressed input is spooled (default: next to DELTA)' })
        .option('zstd-threads', integerOption('zstd-threads', 'zstd worker threads for .zst output', ZSTD_THREADS, 1))
        .option('force', { type: 'boolean', describe: 'replace an existing DELTA (never BASE or NEW)' })
        .option('json', { type: 'boolean', describe: 'print a JSON summary' })
        .option('wait', WAIT_OPTION)
        .option('quiet', { alias: 'q', type: 'boolean', describe: 'no summary line, no progress' })
        .example('$0 diff monday.vma.zst tuesday.vma.zst tuesday.vma-delta.zst', 'forward: keep monday, store tuesday as a delta')
        .example('$0 diff tuesday.vma.zst monday.vma.zst monday.vma-delta.zst', 'reverse: keep tuesday whole, monday as a delta'),
    handler: async args => {
      installSignalCleanup()
      const progress = makeProgress(io.stderr, 'diff', 0, !!args.quiet)
      const compress: OutputCompression | undefined = args.compress === 'lzo' ? 'lzop' : args.compress
      const { diff } = await import('../../delta/diff.js') // loaded when used: start-up stays short
      const r = await diff(args.base, args.new, args.delta, {
        lock: lockOptionsFrom(args, io),
        force: args.force,
        stdin: io.stdin,
        tmpdir: args.tmpdir,
        compress,
        zstdThreads: args.zstdThreads,
        progress: (done, total) => progress.update(done * 65536, 'comparing', total * 65536),
      })
      progress.done()
      if (args.json) io.stdout.write(JSON.stringify(r, null, 2) + '\n')
      else if (!args.quiet) io.stdout.write(diffLine(r) + '\n')
      result.exitCode = 0
    },
  })
}

function diffLine(r: DiffResult): string {
  return `${r.delta}: ${thousands(r.heldClusters)} of ${thousands(r.clusters)} clusters differ from ${r.base}, ${humanBytes(r.outputBytes)} written, proven in ${r.seconds.toFixed(1)} s`
}
