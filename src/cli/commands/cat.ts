import type { Argv } from 'yargs'
import { command } from '../command.js'
import { installSignalCleanup } from '../../util/temp-files.js'
import type { CliIO, CommandResult } from '../cli-io.js'

export function catCommand(io: CliIO, result: CommandResult) {
  return command({
    command: 'cat <src> <device>',
    describe: "Write one device's raw content to stdout, in order (for dd, qemu-img, ssh ...)",
    builder: (y: Argv) =>
      y
        .positional('src', { type: 'string', describe: 'archive path, or - for stdin (plain, .zst, .gz or .lzo)', demandOption: true })
        .positional('device', { type: 'string', describe: 'device name, as `vma-opt info` shows it (drive-scsi0) or without drive- (scsi0)', demandOption: true })
        .option('tmpdir', { type: 'string', describe: 'where a pipe or compressed input is spooled (default: the system temp dir)' })
        .example('$0 cat backup.vma.zst drive-scsi0 | dd of=/dev/sdX bs=4M', ''),
    handler: async args => {
      installSignalCleanup()
      const { catDevice } = await import('../../unpack/cat-device.js') // loaded when used: start-up stays short
      await catDevice(args.src, args.device, io.stdout, { stdin: io.stdin, tmpdir: args.tmpdir })
      result.exitCode = 0
    },
  })
}
