import type { Argv } from 'yargs'
import { command } from '../command.js'
import { installSignalCleanup } from '../../util/temp-files.js'
import { humanBytes } from '../../util/human.js'
import type { CliIO, CommandResult } from '../cli-io.js'
import { guestSourceOptions } from '../guest-source-options.js'
import { openForCommand } from '../restore-input.js'

export function lsCommand(io: CliIO, result: CommandResult) {
  return command({
    command: 'ls <src> [target]',
    describe: "List the volumes of the archive's disks, or a directory inside a guest filesystem (ext2/3/4, NTFS, XFS), without extracting",
    builder: (y: Argv) =>
      guestSourceOptions(y)
        .positional('target', { type: 'string', describe: 'DISK[:VOLUME][:/PATH]: scsi0, scsi0:p1:/etc, scsi0:vg/root:/home (no VOLUME for a filesystem on the whole disk)' })
        .option('long', { alias: 'l', type: 'boolean', describe: 'type and mode, links, owner, size, mtime (UTC), symlink targets' })
        .option('streams', { type: 'boolean', describe: 'NTFS alternate data streams too: FILE:STREAM after each file (what get --streams writes)' })
        .option('json', { type: 'boolean', describe: 'one JSON object per line (spec/cli.md)' })
        .option('quiet', { alias: 'q', type: 'boolean', describe: 'no progress, no spooling note' })
        .example('$0 ls backup.vma.zst', 'the disks and their volumes')
        .example('$0 ls -l backup.vma scsi0:p1:/etc', 'a directory of the guest'),
    handler: async args => {
      installSignalCleanup()
      const { src, log } = await openForCommand(io, args)
      const { listVolumes, openTarget, listPath } = await import('../../restore/restore.js') // loaded when used: start-up stays short
      const { longLine, entryJson } = await import('../../restore/entry-format.js')
      const { printable } = await import('../../restore/resolve-path.js')
      try {
        const target = args.target
        if (target === undefined || !target.includes(':')) {
          for (const v of await listVolumes(src, target)) {
            const spec = v.id === 'disk' ? v.disk : `${v.disk}:${v.id}`
            if (args.json) {
              const o = { disk: v.disk, volume: v.id === 'disk' ? null : v.id, kind: v.kind, label: v.label ?? null, size: v.size, readable: !!v.fs, reason: v.reason ?? null }
              io.stdout.write(`${JSON.stringify(o)}\n`)
            } else {
              const label = v.label ? `  label ${JSON.stringify(printable(Buffer.from(v.label)))}` : ''
              io.stdout.write(`${spec.padEnd(24)} ${v.kind.padEnd(8)} ${humanBytes(v.size).padStart(10)}${label}${v.fs ? '' : `  (${v.reason ?? 'not readable'})`}\n`)
            }
          }
        } else {
          const o = await openTarget(src, target, log)
          for await (const e of listPath(o, !!(args.long || args.json), !!args.streams)) {
            io.stdout.write(args.json ? `${JSON.stringify(entryJson(e))}\n` : args.long ? `${longLine(e)}\n` : `${printable(e.name)}\n`)
          }
        }
      } finally {
        await src.release()
      }
      result.exitCode = 0
    },
  })
}
