import type { Argv } from 'yargs'
import { command } from '../command.js'
import { installSignalCleanup } from '../../util/temp-files.js'
import { humanBytes } from '../../util/human.js'
import type { CliIO, CommandResult } from '../cli-io.js'
import { makeProgress } from '../progress.js'
import { guestSourceOptions } from '../guest-source-options.js'
import { openForCommand } from '../restore-input.js'

export function getCommand(io: CliIO, result: CommandResult) {
  return command({
    command: 'get <src> <target> [dest]',
    describe: 'Copy a file (or with -r a directory) out of a guest filesystem in the archive, with its mode, times, owner (as root), symlinks and holes',
    builder: (y: Argv) =>
      guestSourceOptions(y)
        .positional('target', { type: 'string', describe: 'DISK[:VOLUME]:/PATH, e.g. scsi0:p1:/etc/hostname', demandOption: true })
        .positional('dest', { type: 'string', describe: 'where to write it (default: its name in the current directory), or - for stdout' })
        .option('recursive', { alias: 'r', type: 'boolean', describe: 'a directory and everything in it' })
        .option('force', { alias: 'f', type: 'boolean', describe: 'replace DEST if it exists' })
        .option('xattrs', { type: 'boolean', describe: "extended attributes and POSIX ACLs too (with attr's setfattr)" })
        .option('streams', { type: 'boolean', describe: 'NTFS alternate data streams too, each written as FILE:STREAM beside its file' })
        .option('quiet', { alias: 'q', type: 'boolean', describe: 'no progress, no summary' })
        .example('$0 get backup.vma.zst scsi0:p1:/etc/fstab ./fstab', '')
        .example('$0 get -r backup.vma scsi0:vg/root:/home/alice ./alice', '')
        .example('$0 get backup.vma scsi0:p1:/etc/hostname -', 'to stdout'),
    handler: async args => {
      const { removeLiveTrees } = await import('../../restore/copy-out.js') // loaded when used: start-up stays short
      installSignalCleanup(() => removeLiveTrees())
      const { src, log } = await openForCommand(io, args)
      const { openTarget, getPath, defaultDest } = await import('../../restore/restore.js')
      const { XattrWriter } = await import('../../restore/xattr-writer.js')
      try {
        const o = await openTarget(src, args.target, m => io.stderr.write(`vma-opt: ${m}\n`))
        const dest = args.dest ?? (await defaultDest(o))
        if (dest === '-' && (args.recursive || args.xattrs || args.streams)) log('-r, --xattrs and --streams do not apply to stdout')
        const copying = makeProgress(io.stderr, 'get', 0, !!args.quiet || dest === '-')
        const r = await getPath(o, dest, {
          recursive: !!args.recursive,
          force: !!args.force,
          owner: process.getuid?.() === 0,
          streams: !!args.streams,
          ...(args.xattrs && dest !== '-' ? { xattrs: new XattrWriter(dest) } : {}),
          // Skipped files are always said: a restore that leaves something out must not look whole.
          log: m => io.stderr.write(`vma-opt: ${m}\n`),
          progress: n => copying.update(n),
          stdout: io.stdout,
        })
        copying.done()
        if (dest !== '-' && !args.quiet) {
          const parts = [`${r.files} file${r.files === 1 ? '' : 's'} (${humanBytes(r.bytes)})`]
          if (r.dirs) parts.push(`${r.dirs} director${r.dirs === 1 ? 'y' : 'ies'}`)
          if (r.symlinks) parts.push(`${r.symlinks} symlink${r.symlinks === 1 ? '' : 's'}`)
          if (r.streams) parts.push(`${r.streams} stream${r.streams === 1 ? '' : 's'}`)
          if (r.hardlinks) parts.push(`${r.hardlinks} hard link${r.hardlinks === 1 ? '' : 's'}`)
          if (r.skipped) parts.push(`${r.skipped} skipped`)
          io.stderr.write(`vma-opt: ${dest}: ${parts.join(', ')}\n`)
        }
      } finally {
        await src.release()
      }
      result.exitCode = 0
    },
  })
}
