import type { Argv, CommandModule } from 'yargs'
import { command } from '../command.js'
import { CHECKOUT_WRAPPER, HOOK_ENTRY, installHook } from '../../hook/install-hook.js'
import { isPackaged, PACKAGED_OPTIONS, PACKAGED_WRAPPER } from '../../hook/packaged.js'
import { uninstallHook } from '../../hook/uninstall-hook.js'
import type { CliIO, CommandResult } from '../cli-io.js'
import { integerOption, KEEP_DELTAS, ZSTD_THREADS } from '../integer-option.js'

const PATH_HELP = `the hook wrapper (default ${CHECKOUT_WRAPPER}; from the Debian package ${PACKAGED_WRAPPER}, whose options are ${PACKAGED_OPTIONS}: another path is a wrapper of its own, for one vzdump job's --script)`

function installCommand(io: CliIO, result: CommandResult, packaged: boolean) {
  return command({
    command: 'install',
    describe: `Write the hook (a wrapper with absolute paths, or from the Debian package ${PACKAGED_OPTIONS}) and set or print the vzdump.conf line`,
    builder: (z: Argv) =>
      z
        .option('path', { type: 'string', describe: PATH_HELP })
        .option('vzdump-conf', { type: 'string', describe: 'also set `script:` in this file (e.g. /etc/vzdump.conf), keeping its first version as FILE.vma-opt-backup' })
        .option('keep-uuid', { type: 'boolean', describe: "keep each archive's uuid" })
        .option('zstd-threads', integerOption('zstd-threads', 'zstd threads when recompressing .zst backups (default 1)', ZSTD_THREADS))
        .option('tmpdir', { type: 'string', describe: 'spool directory (default: the dump directory)' })
        .option('strict', { type: 'boolean', describe: 'fail the backup on any error, not only on a damaged archive' })
        .option('force', { type: 'boolean', describe: 'replace the hook vzdump.conf names instead of keeping it running after ours' })
        .option('trim', { type: 'boolean', describe: "optimize --trim: zero what the guests' filesystems declare free (docs/trim.md)" })
        .option('trim-journal', { choices: ['strict', 'union'] as const, describe: 'with --trim: the ext3/4 journal rule (default strict)' })
        .option('trim-lvm-free', { type: 'boolean', describe: 'with --trim: also zero unallocated LVM extents' })
        .option('reverse-deltas', { type: 'boolean', describe: "turn each guest's previous backup into a reverse delta against the new one (docs/hook-and-reverse-deltas.md)" })
        .option('keep-deltas', { ...integerOption('keep-deltas', 'with --reverse-deltas: keep at most N deltas per guest, removing the oldest', KEEP_DELTAS), implies: 'reverse-deltas' })
        .option('share-blocks', {
          type: 'boolean',
          describe:
            "optimize each uncompressed backup into the aligned form and share its identical blocks with the guest's previous backup (XFS with reflink, btrfs; docs/sharing.md); not with --reverse-deltas",
        })
        .example('$0 hook install --vzdump-conf /etc/vzdump.conf', ''),
    handler: async args => {
      const r = installHook({ ...args, packaged })
      io.stdout.write(r.wrote !== r.path ? `wrote ${r.wrote} (the options of ${r.path})\n` : `wrote ${r.path}\n`)
      if (r.chain) io.stdout.write(`${r.path} also runs the hook vzdump ran before, ${r.chain}, at every phase (--force: replace it instead)\n`)
      if (r.vzdumpConf) io.stdout.write(`${r.vzdumpConf}: ${r.confLine}${r.backup ? ` (previous version kept as ${r.backup})` : ''}\n`)
      else io.stdout.write(`add this line to /etc/vzdump.conf (or pass --script ${r.path} to vzdump):\n${r.confLine}\n`)
      result.exitCode = 0
    },
  })
}

function uninstallCommand(io: CliIO, result: CommandResult, packaged: boolean) {
  return command({
    command: 'uninstall',
    describe: "Undo hook install: restore vzdump.conf's previous script: line and delete the wrapper vma-opt wrote",
    builder: (z: Argv) =>
      z
        .option('path', { type: 'string', describe: PATH_HELP })
        .option('vzdump-conf', { type: 'string', describe: 'restore the script: line this file had before hook install (from FILE.vma-opt-backup)' })
        .example('$0 hook uninstall --vzdump-conf /etc/vzdump.conf', ''),
    handler: async args => {
      const r = uninstallHook({ path: args.path, vzdumpConf: args.vzdumpConf, packaged })
      for (const f of r.removed) io.stdout.write(`removed ${f}\n`)
      if (r.restored !== undefined) io.stdout.write(`${r.vzdumpConf}: ${r.restored === null ? 'script: line removed' : `restored ${r.restored}`}\n`)
      else if (r.foreign) io.stdout.write(`${r.vzdumpConf} runs the hook ${r.foreign}, not vma-opt's: left as it is\n`)
      else if (r.vzdumpConf) io.stdout.write(`${r.vzdumpConf} names no hook: left as it is\n`)
      if (r.removed.length === 0 && !r.restored && r.restored !== null) io.stdout.write('nothing to remove\n')
      result.exitCode = 0
    },
  })
}

export function hookCommand(io: CliIO, result: CommandResult): CommandModule<object, object> {
  const packaged = isPackaged(HOOK_ENTRY)
  return {
    command: 'hook',
    describe: 'Use vma-opt as a vzdump hook: every backup optimized as it lands',
    builder: (y: Argv) =>
      y
        .command(installCommand(io, result, packaged))
        .command(uninstallCommand(io, result, packaged))
        .demandCommand(1, 'Name a hook command: install or uninstall.'),
    handler: () => undefined,
  }
}
