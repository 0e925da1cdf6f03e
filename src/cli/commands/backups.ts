import type { Argv } from 'yargs'
import { command } from '../command.js'
import type { CliIO, CommandResult } from '../cli-io.js'
import { EXIT_INVALID } from '../../util/errors.js'
import { humanBytes } from '../../util/human.js'

export function backupsCommand(io: CliIO, result: CommandResult) {
  return command({
    command: 'backups <dir>',
    describe: 'A dump directory at a glance: per VM, every backup (full or reverse delta), its size, protection and what restoring it takes; broken chains flagged',
    builder: (y: Argv) =>
      y
        .positional('dir', { type: 'string', describe: 'a vzdump dump directory (e.g. /var/lib/vz/dump)', demandOption: true })
        .option('json', { type: 'boolean', describe: 'print a JSON array, one object per VM' })
        .example('$0 backups /var/lib/vz/dump', ''),
    handler: async args => {
      const { listBackups } = await import('../../delta/backup-listing.js') // loaded when used: start-up stays short
      const guests = await listBackups(args.dir)
      const broken = guests.flatMap(g => g.backups.filter(b => b.status !== 'ok'))
      if (args.json) io.stdout.write(JSON.stringify(guests, null, 2) + '\n')
      else {
        for (const g of guests) {
          io.stdout.write(`VM ${g.vmid}\n`)
          for (const b of g.backups) {
            const prot = b.protected === 'user' ? ', protected' : b.protected === 'vma-opt' ? ', kept for reverse deltas' : ''
            const how =
              b.status !== 'ok'
                ? `  ${b.status.toUpperCase()}: ${b.problem}`
                : b.kind === 'delta'
                  ? `  restore: vma-opt rebuild ${b.file} OUT (${b.needs.length - 1} delta${b.needs.length === 2 ? '' : 's'} on ${b.needs[0]})`
                  : ''
            io.stdout.write(`  ${b.date.replace('T', ' ')}  ${b.kind.padEnd(5)}  ${humanBytes(b.size).padStart(9)}${prot}  ${b.file}${how}\n`)
          }
        }
        if (guests.length === 0) io.stdout.write(`${args.dir}: no vzdump VM backups\n`)
        if (broken.length) io.stderr.write(`vma-opt: ${broken.length} backup${broken.length === 1 ? '' : 's'} cannot be restored: ${broken.map(b => b.file).join(', ')}\n`)
      }
      // A script learns from the status that something is wrong, as from verify.
      result.exitCode = broken.length ? EXIT_INVALID : 0
    },
  })
}
