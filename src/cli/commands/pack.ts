import type { Argv } from 'yargs'
import { command } from '../command.js'
import { VmaError } from '../../util/errors.js'
import type { PackDisk, PackResult } from '../../pack/pack.js'
import { installSignalCleanup } from '../../util/temp-files.js'
import type { CliIO, CommandResult } from '../cli-io.js'
import { humanBytes } from '../../util/human.js'
import { makeProgress } from '../progress.js'
import { integerOption, ZSTD_THREADS } from '../integer-option.js'
import { trimLines, trimOptions, trimOptionsFrom } from '../trim-text.js'
import { WAIT_OPTION, lockOptionsFrom } from '../wait-option.js'

function parseDisk(spec: string): PackDisk {
  const eq = spec.indexOf('=')
  if (eq <= 0 || eq === spec.length - 1) throw new VmaError('VMA_USAGE', -1, `--disk takes NAME=PATH, got ${JSON.stringify(spec)}`)
  return { name: spec.slice(0, eq), path: spec.slice(eq + 1) }
}

export function packCommand(io: CliIO, result: CommandResult) {
  return command({
    command: 'pack <first> [second]',
    describe: 'Build an archive Proxmox can restore from raw images and configs: pack DEST --config F --disk NAME=PATH ..., or pack DIR DEST',
    builder: (y: Argv) =>
      trimOptions(y)
        .positional('first', { type: 'string', describe: 'DEST (with --config/--disk), or DIR in the layout unpack writes', demandOption: true })
        .positional('second', { type: 'string', describe: 'DEST when the first argument is a directory; - for stdout' })
        .option('config', { type: 'string', array: true, describe: 'a config file, stored under its base name (repeatable, kept in order)' })
        .option('disk', { type: 'string', array: true, describe: 'NAME=PATH of a raw image, e.g. drive-scsi0=disk.raw (repeatable)' })
        .option('compress', { choices: ['zstd', 'gzip', 'lzo', 'none'] as const, describe: 'output compression (default: from the file name)' })
        // Up to the last second a JavaScript Date can show (info prints it).
        .option('ctime', integerOption('ctime', 'creation time, Unix seconds (default: now)', { min: 0, max: 8_640_000_000_000 }))
        .option('zstd-threads', integerOption('zstd-threads', 'zstd worker threads for .zst output (0: one per core)', ZSTD_THREADS, 1))
        .option('tmpdir', { type: 'string', describe: 'where the temp output goes when writing to stdout' })
        .option('check', { type: 'boolean', default: true, describe: 'read the archive back and compare with the images (--no-check skips)' })
        .option('space-check', { type: 'boolean', default: true, describe: 'refuse at once when the output clearly cannot fit in the free space of its filesystem (--no-space-check skips)' })
        .option('force', { type: 'boolean', describe: 'overwrite DEST if it exists' })
        .option('trim', { type: 'boolean', describe: "zero what the images' filesystems declare free (as optimize --trim)" })
        .option('json', { type: 'boolean', describe: 'print a JSON summary' })
        .option('wait', WAIT_OPTION)
        .option('quiet', { alias: 'q', type: 'boolean', describe: 'no summary, no progress' })
        .example('$0 pack restore/ vzdump-qemu-100-2026_11_21-00_00_00.vma.zst', 'from what unpack wrote')
        .example('$0 pack out.vma --config qemu-server.conf --disk drive-scsi0=disk0.raw', ''),
    handler: async args => {
      installSignalCleanup()
      const { pack, readPackDir } = await import('../../pack/pack.js') // loaded when used: start-up stays short
      let dest: string
      let configs: string[]
      let disks: PackDisk[]
      if (args.second !== undefined) {
        if (args.config?.length || args.disk?.length) throw new VmaError('VMA_USAGE', -1, 'give either a directory or --config/--disk, not both')
        ;({ configs, disks } = readPackDir(args.first))
        dest = args.second
      } else {
        dest = args.first
        configs = args.config ?? []
        disks = (args.disk ?? []).map(parseDisk)
      }
      const toStdout = dest === '-'
      const report = toStdout ? io.stderr : io.stdout
      const progress = makeProgress(io.stderr, 'packing', 0, !!args.quiet)
      const r = await pack(dest, {
        lock: lockOptionsFrom(args, io),
        configs,
        disks,
        compress: args.compress === 'lzo' ? 'lzop' : args.compress,
        ctime: args.ctime,
        zstdThreads: args.zstdThreads,
        tmpdir: args.tmpdir,
        noCheck: !args.check,
        noSpaceCheck: !args.spaceCheck,
        force: args.force,
        stdout: io.stdout,
        note: msg => io.stderr.write(`vma-opt: note: ${msg}\n`),
        progress: (phase, n) => progress.update(n, phase),
        trim: args.trim ? trimOptionsFrom(args) : undefined,
      })
      progress.done()
      if (args.json) report.write(JSON.stringify(packJson(r), null, 2) + '\n')
      else if (!args.quiet)
        report.write(
          `${r.dest === '-' ? 'stdout' : r.dest}: ${r.configs.length} config${r.configs.length === 1 ? '' : 's'}, ${r.devices.length} device${r.devices.length === 1 ? '' : 's'}, ${humanBytes(r.outputBytes)}${r.checked ? (r.trim ? ', checked against the images minus their free space' : ', checked against the images') : ''} in ${r.seconds.toFixed(1)} s\n`,
        )
      if (!args.json && !args.quiet && r.trim)
        report.write(
          trimLines(r.trim.report, r.trim.zeroed)
            .map(l => l + '\n')
            .join(''),
        )
      result.exitCode = 0
    },
  })
}

function packJson(r: PackResult) {
  return {
    dest: r.dest,
    compression: r.compression,
    outputBytes: r.outputBytes,
    plainBytes: r.plainBytes,
    configs: r.configs,
    devices: r.devices.map(d => ({ id: d.id, name: d.name, size: d.size, digest: d.digest })),
    padded: r.padded,
    checked: r.checked,
    seconds: r.seconds,
    ...(r.trim ? { trim: { ...r.trim.report, zeroedBytes: r.trim.zeroed } } : {}),
  }
}
