import type { Argv, CommandModule } from 'yargs'
import { installHook } from '../../hook/install-hook.js'
import type { CliIO, CommandResult } from '../cli-io.js'

interface HookArgs {
  path: string
  vzdumpConf?: string
  keepUuid?: boolean
  zstdThreads?: number
  tmpdir?: string
  strict?: boolean
  force?: boolean
  reverseDeltas?: boolean
  keepDeltas?: number
}

export function hookCommand(io: CliIO, result: CommandResult): CommandModule<object, object> {
  return {
    command: 'hook',
    describe: 'Use vma-opt as a vzdump hook: every backup optimized as it lands',
    builder: (y: Argv) =>
      y
        .command({
          command: 'install',
          describe: 'Write the hook executable (absolute paths baked in) and print the vzdump.conf line',
          builder: (z: Argv) =>
            z
              .option('path', { type: 'string', default: '/usr/local/bin/vma-opt-hook', describe: 'where to write the hook' })
              .option('vzdump-conf', { type: 'string', describe: 'also set `script:` in this file (e.g. /etc/vzdump.conf), keeping a backup of it' })
              .option('keep-uuid', { type: 'boolean', describe: "keep each archive's uuid" })
              .option('zstd-threads', { type: 'number', describe: 'zstd threads when recompressing .zst backups (default 1)' })
              .option('tmpdir', { type: 'string', describe: 'spool directory (default: the dump directory)' })
              .option('strict', { type: 'boolean', describe: 'fail the backup on any error, not only on a damaged archive' })
              .option('force', { type: 'boolean', describe: 'replace another script: line in vzdump.conf' })
              .option('reverse-deltas', { type: 'boolean', describe: "turn each guest's previous backup into a reverse delta against the new one (README: Reverse deltas)" })
              .option('keep-deltas', { type: 'number', implies: 'reverse-deltas', describe: 'with --reverse-deltas: keep at most N deltas per guest, removing the oldest' })
              .example('$0 hook install --vzdump-conf /etc/vzdump.conf', '') as unknown as Argv<HookArgs>,
          handler: async (args: HookArgs) => {
            const r = installHook({ ...args, path: args.path })
            io.stdout.write(`wrote ${r.path}\n`)
            if (r.vzdumpConf) io.stdout.write(`${r.vzdumpConf}: ${r.confLine}${r.backup ? ` (previous version kept as ${r.backup})` : ''}\n`)
            else io.stdout.write(`add this line to /etc/vzdump.conf (or pass --script ${r.path} to vzdump):\n${r.confLine}\n`)
            result.exitCode = 0
          },
        })
        .demandCommand(1, 'Name a hook command: install.'),
    handler: () => undefined,
  }
}
