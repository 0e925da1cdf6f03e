import type { Argv } from 'yargs'
import { command } from '../command.js'
import type { CliIO, CommandResult } from '../cli-io.js'
import { installSignalCleanup } from '../../util/temp-files.js'
import { humanBytes } from '../../util/human.js'
import { applyOptionsFrom, chainOutputOptions } from '../chain-output-options.js'

export function rebuildCommand(io: CliIO, result: CommandResult) {
  return command({
    command: 'rebuild <backup> <out>',
    describe: "Write a reverse delta's day as a full archive: the full archive and the newer deltas are found in its directory, the result proven as apply proves it",
    builder: (y: Argv) =>
      chainOutputOptions(y)
        .positional('backup', { type: 'string', describe: 'a .vma-delta (or a full archive) in a dump directory', demandOption: true })
        .positional('out', { type: 'string', describe: 'the full archive to write, or - for stdout', demandOption: true })
        .example('$0 rebuild vzdump-qemu-100-2026_11_21-01_00_00.vma-delta.zst /var/tmp/vzdump-qemu-100-2026_11_21-01_00_00.vma.zst', '')
        .example('$0 rebuild vzdump-qemu-100-2026_11_21-01_00_00.vma-delta.zst - | vma extract - /restore', 'into a pipe'),
    handler: async args => {
      installSignalCleanup()
      const { chainFor } = await import('../../delta/chain-for.js') // loaded when used: start-up stays short
      const { apply } = await import('../../delta/apply.js')
      const chain = await chainFor(args.backup)
      const report = args.out === '-' ? io.stderr : io.stdout
      if (chain.deltas.length === 0) {
        // A full archive is its own restore point: say so rather than copy it.
        report.write(`${args.backup} is a full archive: restore it as it is\n`)
        result.exitCode = 0
        return
      }
      const { options, progress } = applyOptionsFrom(args, io, 'rebuild')
      const r = await apply(chain.base, chain.deltas, args.out, options)
      progress.done()
      if (args.json) report.write(JSON.stringify(r, null, 2) + '\n')
      else if (!args.quiet)
        report.write(
          `${r.dest === '-' ? 'stdout' : r.dest}: ${r.base} + ${r.deltas.length} delta${r.deltas.length === 1 ? '' : 's'} -> ${humanBytes(r.outputBytes)}, proven equal to what ${args.backup} recorded, in ${r.seconds.toFixed(1)} s\n`,
        )
      result.exitCode = 0
    },
  })
}
