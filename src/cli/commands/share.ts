import type { Argv } from 'yargs'
import { command } from '../command.js'
import type { CliIO, CommandResult } from '../cli-io.js'
import { humanBytes } from '../../util/human.js'
import { installSignalCleanup } from '../../util/temp-files.js'

export function shareCommand(io: CliIO, result: CommandResult) {
  return command({
    command: 'share <files..>',
    describe: 'Make existing archives on one XFS or btrfs filesystem share their identical 4 KiB blocks, without changing a byte of them',
    builder: (y: Argv) =>
      y
        .positional('files', { type: 'string', array: true, demandOption: true, describe: 'archives on one filesystem; each shares with those before it' })
        .option('json', { type: 'boolean', describe: 'print a JSON object' })
        .example('$0 share /var/lib/vz/dump/vzdump-qemu-100-*.vma', 'a dump directory after the fact'),
    handler: async args => {
      installSignalCleanup()
      const { shareFiles } = await import('../../share/share-files.js') // loaded when used: start-up stays short
      const r = await shareFiles(args.files, f => {
        if (!args.json && !f.why) io.stdout.write(`${f.file}: ${humanBytes(f.shared)} shared with the archives before it\n`)
      })
      if (args.json) io.stdout.write(JSON.stringify({ files: r.files.map(f => ({ file: f.file, sharedBytes: f.shared, why: f.why ?? null })), why: r.why ?? null }, null, 2) + '\n')
      else if (r.why) io.stdout.write(`share: ${r.why}\n`)
      else for (const f of r.files) if (f.why) io.stdout.write(`${f.file}: ${f.why}\n`)
      result.exitCode = 0
    },
  })
}
