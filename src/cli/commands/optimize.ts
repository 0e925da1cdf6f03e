import type { Argv } from 'yargs'
import { command } from '../command.js'
import type { OptimizeResult } from '../../optimize/optimize.js'
import type { OutputCompression } from '../../output/output-file.js'
import { installSignalCleanup } from '../../util/temp-files.js'
import type { CliIO, CommandResult } from '../cli-io.js'
import { humanBytes } from '../../util/human.js'
import { makeProgress } from '../progress.js'
import { integerOption, ZSTD_THREADS } from '../integer-option.js'
import { trimLines, trimOptions, trimOptionsFrom } from '../trim-text.js'

export function optimizeCommand(io: CliIO, result: CommandResult) {
  return command({
    command: 'optimize <src> [dest]',
    describe: 'Rewrite an archive deterministically so that backups deduplicate (--trim: and zero the free space inside its disks); proves the result before replacing anything',
    builder: (y: Argv) =>
      trimOptions(y)
        .positional('src', { type: 'string', describe: 'archive path, or - for stdin (plain, .zst, .gz or .lzo)', demandOption: true })
        .positional('dest', { type: 'string', describe: 'output path, or - for stdout (default: replace SRC in place; stdout if SRC is -)' })
        .option('compress', { choices: ['zstd', 'gzip', 'lzo', 'none'] as const, describe: 'output compression (default: from the file name: .zst, .gz, .lzo)' })
        .option('keep-uuid', { type: 'boolean', describe: "keep the archive's uuid instead of the fixed one" })
        .option('tmpdir', { type: 'string', describe: 'directory for spool files (default: next to the output)' })
        .option('spool', { type: 'boolean', describe: 'spool a compressed file to disk instead of decompressing it once more per device' })
        .option('force', { type: 'boolean', describe: 'replace an existing DEST; replace SRC in place even when it has other hard links' })
        .option('check', { type: 'boolean', default: true, describe: 'read the output back and compare digests before replacing (--no-check skips)' })
        .option('zstd-threads', integerOption('zstd-threads', 'zstd worker threads for .zst output (0: one per core)', ZSTD_THREADS, 1))
        .option('trim', { type: 'boolean', describe: "zero what the guests' filesystems declare free (ext2/3/4, swap, LVM, NTFS); see info --free-space" })
        .option('json', { type: 'boolean', describe: 'print a JSON summary' })
        .option('quiet', { alias: 'q', type: 'boolean', describe: 'no summary line, no progress' })
        .example('$0 optimize vzdump-qemu-100.vma.zst', 'in place, recompressed with zstd --rsyncable')
        .example('$0 optimize in.vma out.vma', 'to a new file')
        .example('$0 optimize --trim vzdump-qemu-100.vma.zst', 'also zero free space inside the guest disks')
        .example('zstdcat in.vma.zst | $0 optimize - - > out.vma', 'in a pipe'),
    handler: async args => {
      installSignalCleanup()
      const toStdout = args.dest === '-' || (args.dest === undefined && args.src === '-')
      const progress = makeProgress(io.stderr, 'optimize', 0, !!args.quiet)
      const compress: OutputCompression | undefined = args.compress === 'lzo' ? 'lzop' : args.compress
      const { optimize } = await import('../../optimize/optimize.js') // loaded when used: start-up stays short
      const r = await optimize(args.src, {
        dest: args.dest,
        compress,
        keepUuid: args.keepUuid,
        tmpdir: args.tmpdir,
        spool: args.spool,
        force: args.force,
        noCheck: !args.check,
        zstdThreads: args.zstdThreads,
        stdin: io.stdin,
        stdout: io.stdout,
        progress: (phase, done, total) => progress.update(done, phase, total),
        trim: args.trim ? trimOptionsFrom(args) : undefined,
      })
      progress.done()
      const report = toStdout ? io.stderr : io.stdout
      if (args.json) report.write(JSON.stringify(optimizeJson(r), null, 2) + '\n')
      else if (!args.quiet) {
        report.write(summaryLine(r) + '\n')
        if (r.trim) report.write(trimLines(r.trim.report).map(l => l + '\n').join(''))
      }
      result.exitCode = 0
    },
  })
}

export function optimizeJson(r: OptimizeResult) {
  return {
    src: r.src,
    dest: r.dest,
    compression: r.compression,
    inputBytes: r.inputBytes >= 0 ? r.inputBytes : null,
    plainBytes: r.plainBytes,
    outputBytes: r.outputBytes,
    plainOutputBytes: r.plainOutputBytes,
    alreadyOptimized: r.alreadyOptimized,
    written: r.written,
    checked: r.checked,
    seconds: r.seconds,
    devices: r.devices.map(d => ({ id: d.id, name: d.name, size: d.size, digest: d.digest })),
    ...(r.trim ? { trim: { ...r.trim.report, zeroedBytes: r.trim.zeroed } } : {}),
  }
}

function summaryLine(r: OptimizeResult): string {
  if (!r.written) return `${r.src}: already optimized, left unchanged (${(r.seconds).toFixed(1)} s)`
  const before = r.inputBytes >= 0 ? humanBytes(r.inputBytes) : humanBytes(r.plainBytes)
  const to = r.dest === r.src ? 'in place' : `-> ${r.dest === '-' ? 'stdout' : r.dest}`
  const note = r.alreadyOptimized ? ', was already optimized' : ''
  return `${r.src}: optimized ${to}, ${before} -> ${humanBytes(r.outputBytes)}, ${r.devices.length} device${r.devices.length === 1 ? '' : 's'} ${r.checked ? (r.trim && r.trim.report.freeBytes > 0 ? 'proven equal to the input outside the free space' : 'proven unchanged') : 'NOT checked (--no-check)'} in ${r.seconds.toFixed(1)} s${note}`
}
