import type { Argv } from 'yargs'
import { command } from '../command.js'
import type { ApplyResult } from '../../delta/apply.js'
import { VmaError } from '../../util/errors.js'
import { installSignalCleanup } from '../../util/temp-files.js'
import type { CliIO, CommandResult } from '../cli-io.js'
import { humanBytes } from '../../util/human.js'
import { applyOptionsFrom, chainOutputOptions } from '../chain-output-options.js'

export function applyCommand(io: CliIO, result: CommandResult) {
  return command({
    command: 'apply <base> <rest..>',
    describe: 'Restore the newest archive of a chain BASE DELTA... as a full archive OUT (the optimized form), proven before it is published',
    builder: (y: Argv) =>
      chainOutputOptions(y)
        .positional('base', { type: 'string', describe: 'the full archive the first delta applies to (path or -)', demandOption: true })
        .positional('rest', { type: 'string', array: true, describe: 'DELTA... OUT: deltas in chain order, then the output path or - for stdout' })
        .example('$0 apply monday.vma.zst tuesday.vma-delta.zst tuesday.vma.zst', 'forward')
        .example('$0 apply today.vma.zst yesterday.vma-delta.zst - | vma extract - /restore', 'reverse, into a pipe'),
    handler: async args => {
      installSignalCleanup()
      const rest = args.rest ?? []
      if (rest.length < 2) throw new VmaError('VMA_USAGE', -1, 'name BASE, at least one DELTA, and OUT')
      const out = rest[rest.length - 1]!
      const { options, progress } = applyOptionsFrom(args, io, 'apply')
      const { apply } = await import('../../delta/apply.js') // loaded when used: start-up stays short
      const r = await apply(args.base, rest.slice(0, -1), out, { ...options, stdin: io.stdin })
      progress.done()
      const report = out === '-' ? io.stderr : io.stdout
      if (args.json) report.write(JSON.stringify(r, null, 2) + '\n')
      else if (!args.quiet) report.write(applyLine(r) + '\n')
      result.exitCode = 0
    },
  })
}

function applyLine(r: ApplyResult): string {
  const n = r.deltas.length
  return `${r.dest === '-' ? 'stdout' : r.dest}: ${r.base} + ${n} delta${n === 1 ? '' : 's'} -> ${humanBytes(r.outputBytes)}, ${r.devices.length} device${r.devices.length === 1 ? '' : 's'} proven equal to the recorded identity in ${r.seconds.toFixed(1)} s`
}
