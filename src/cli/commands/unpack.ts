import type { Argv } from 'yargs'
import { command } from '../command.js'
import type { UnpackResult } from '../../unpack/unpack.js'
import { installSignalCleanup } from '../../util/temp-files.js'
import type { CliIO, CommandResult } from '../cli-io.js'
import { humanBytes } from '../../util/human.js'
import { makeProgress } from '../progress.js'

export function unpackCommand(io: CliIO, result: CommandResult) {
  return command({
    command: 'unpack <src> <dir>',
    describe: 'Write the configs and sparse raw disk images (disk-<name>.raw) of an archive into DIR',
    builder: (y: Argv) =>
      y
        .positional('src', { type: 'string', describe: 'archive path, or - for stdin (plain, .zst, .gz or .lzo)', demandOption: true })
        .positional('dir', { type: 'string', describe: 'target directory (created if missing)', demandOption: true })
        .option('device', { type: 'string', array: true, describe: 'only write this device (drive-scsi0 or scsi0; repeatable); the others are still checked' })
        .option('force', { type: 'boolean', describe: 'overwrite existing files' })
        .option('space-check', { type: 'boolean', default: true, describe: 'refuse at once when the output clearly cannot fit in the free space of its filesystem (--no-space-check skips)' })
        .option('json', { type: 'boolean', describe: 'print a JSON summary' })
        .option('quiet', { alias: 'q', type: 'boolean', describe: 'no summary, no progress' })
        .example('$0 unpack backup.vma.zst restore/', '')
        .example('zstdcat backup.vma.zst | $0 unpack - restore/', 'no room for a decompressed copy')
        .example('$0 unpack backup.vma restore/ --device drive-scsi0', 'one disk'),
    handler: async args => {
      installSignalCleanup()
      const progress = makeProgress(io.stderr, 'unpacking', 0, !!args.quiet)
      const { unpack } = await import('../../unpack/unpack.js') // loaded when used: start-up stays short
      const r = await unpack(args.src, args.dir, { devices: args.device, force: args.force, noSpaceCheck: !args.spaceCheck, stdin: io.stdin, progress: n => progress.update(n) })
      progress.done()
      if (args.json) io.stdout.write(JSON.stringify(unpackJson(r), null, 2) + '\n')
      else if (!args.quiet) io.stdout.write(unpackText(r))
      result.exitCode = 0
    },
  })
}

function unpackJson(r: UnpackResult) {
  return { src: r.src, dir: r.dir, files: r.files, skipped: r.skipped, seconds: r.seconds }
}

function unpackText(r: UnpackResult): string {
  const lines = r.files.map(f => (f.kind === 'config' ? `${f.path}  ${f.size} bytes` : `${f.path}  ${humanBytes(f.size)} (${humanBytes(f.written ?? 0)} of data, the rest sparse)`))
  if (r.skipped.length) lines.push(`checked, not written: ${r.skipped.join(', ')}`)
  return lines.join('\n') + '\n'
}
