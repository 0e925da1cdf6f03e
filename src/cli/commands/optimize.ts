import type { Argv } from 'yargs'
import { command } from '../command.js'
import type { OptimizeResult } from '../../optimize/optimize.js'
import type { OutputCompression } from '../../output/output-file.js'
import { installSignalCleanup } from '../../util/temp-files.js'
import type { CliIO, CommandResult } from '../cli-io.js'
import { reportError } from '../report-error.js'
import { VmaError } from '../../util/errors.js'
import { humanBytes } from '../../util/human.js'
import type { ShareResult } from '../../share/share-blocks.js'
import { makeProgress } from '../progress.js'
import { integerOption, ZSTD_THREADS } from '../integer-option.js'
import { trimLines, trimOptions, trimOptionsFrom } from '../trim-text.js'

import { WAIT_OPTION, lockOptionsFrom } from '../wait-option.js'

export function optimizeCommand(io: CliIO, result: CommandResult) {
  /** Each file's result, for the summary of several. */
  let last: OptimizeResult | undefined
  const mod = command({
    command: 'optimize <src> [dest] [more..]',
    describe: 'Rewrite an archive deterministically so that backups deduplicate (--trim: and zero the free space inside its disks); proves the result before replacing anything',
    builder: (y: Argv) =>
      trimOptions(y)
        .positional('src', { type: 'string', describe: 'archive path, or - for stdin (plain, .zst, .gz or .lzo)', demandOption: true })
        .positional('dest', { type: 'string', describe: 'output path, or - for stdout (default: replace SRC in place; stdout if SRC is -)' })
        .positional('more', { type: 'string', array: true, describe: 'three or more archives (or two with --in-place): each optimized in place, one after another' })
        .option('in-place', { alias: 'i', type: 'boolean', describe: 'every archive named is replaced in place, even two (otherwise the second is DEST)' })
        .option('compress', { choices: ['zstd', 'gzip', 'lzo', 'none'] as const, describe: 'output compression (default: from the file name: .zst, .gz, .lzo)' })
        .option('keep-uuid', { type: 'boolean', describe: "keep the archive's uuid instead of the fixed one" })
        .option('align', { type: 'boolean', describe: 'put every data block at a multiple of 4 KiB, so that a reflink filesystem can share blocks between archives (spec/optimized-form.md)' })
        .option('share-with', {
          type: 'string',
          requiresArg: true,
          coerce: (v: string | string[]) => ([] as string[]).concat(v),
          describe: 'an archive on the same XFS or btrfs filesystem to share identical 4 KiB blocks with (repeatable; implies --align; spec/sharing.md)',
        })
        .option('tmpdir', { type: 'string', describe: 'directory for spool files (default: next to the output)' })
        .option('spool', { type: 'boolean', describe: 'spool a compressed file to disk instead of decompressing it once more per device' })
        .option('force', { type: 'boolean', describe: 'replace an existing DEST; replace SRC in place even when it has other hard links' })
        .option('check', { type: 'boolean', default: true, describe: 'read the output back and compare digests before replacing (--no-check skips)' })
        .option('space-check', { type: 'boolean', default: true, describe: 'refuse at once when the output clearly cannot fit in the free space of its filesystem (--no-space-check skips)' })
        .option('zstd-threads', integerOption('zstd-threads', 'zstd worker threads for .zst output (0: one per core)', ZSTD_THREADS, 1))
        .option('trim', { type: 'boolean', describe: "zero what the guests' filesystems declare free (ext2/3/4, swap, LVM, NTFS); see info --free-space" })
        .option('json', { type: 'boolean', describe: 'print a JSON summary' })
        .option('wait', WAIT_OPTION)
        .option('quiet', { alias: 'q', type: 'boolean', describe: 'no summary line, no progress' })
        .example('$0 optimize vzdump-qemu-100.vma.zst', 'in place, recompressed with zstd --rsyncable')
        .example('$0 optimize in.vma out.vma', 'to a new file')
        .example('$0 optimize -i /var/lib/vz/dump/*.vma.zst', 'every backup of a dump directory, in place')
        .example('$0 optimize --share-with vzdump-qemu-100-2026_11_20-01_00_00.vma vzdump-qemu-100-2026_11_21-01_00_00.vma', 'store only what changed since the day before (XFS, btrfs)')
        .example('$0 optimize --trim vzdump-qemu-100.vma.zst', 'also zero free space inside the guest disks')
        .example('zstdcat in.vma.zst | $0 optimize - - > out.vma', 'in a pipe'),
    handler: async args => {
      if (args.shareWith?.length && args.align === false) throw new VmaError('VMA_USAGE', -1, '--share-with needs the aligned form: it cannot be combined with --no-align')
      const files = args.more?.length || args.inPlace ? [args.src, ...(args.dest === undefined ? [] : [args.dest]), ...(args.more ?? [])] : undefined
      if (files)
        return optimizeMany(io, result, files, args, async file => {
          // The same handler, for one file in place (yargs' parsed type cannot be rebuilt by hand: a cast).
          const one = { ...args, src: file, dest: undefined, more: undefined, inPlace: undefined, 'in-place': undefined, json: false, quiet: args.quiet || args.json }
          await mod.handler(one as unknown as Parameters<typeof mod.handler>[0])
          return last!
        })
      installSignalCleanup()
      const toStdout = args.dest === '-' || (args.dest === undefined && args.src === '-')
      const progress = makeProgress(io.stderr, 'optimize', 0, !!args.quiet)
      const compress: OutputCompression | undefined = args.compress === 'lzo' ? 'lzop' : args.compress
      const { optimize } = await import('../../optimize/optimize.js') // loaded when used: start-up stays short
      const r = await optimize(args.src, {
        lock: lockOptionsFrom(args, io),
        dest: args.dest,
        compress,
        keepUuid: args.keepUuid,
        align: args.align,
        shareWith: args.shareWith,
        tmpdir: args.tmpdir,
        spool: args.spool,
        force: args.force,
        noCheck: !args.check,
        noSpaceCheck: !args.spaceCheck,
        zstdThreads: args.zstdThreads,
        stdin: io.stdin,
        stdout: io.stdout,
        progress: (phase, done, total) => progress.update(done, phase, total),
        trim: args.trim ? trimOptionsFrom(args) : undefined,
      })
      progress.done()
      last = r
      const report = toStdout ? io.stderr : io.stdout
      if (args.json) report.write(JSON.stringify(optimizeJson(r), null, 2) + '\n')
      else if (!args.quiet) {
        report.write(summaryLine(r) + '\n')
        if (r.trim)
          report.write(
            trimLines(r.trim.report, r.trim.zeroed)
              .map(l => l + '\n')
              .join(''),
          )
        if (r.share) report.write(shareLine(r.share) + '\n')
      }
      result.exitCode = 0
    },
  })
  return mod
}

/**
 * Several archives in place, one after another (`optimize -i dump/*.vma.zst`):
 * each says its own line (or its one-line error), a failure does not stop the
 * rest, and a summary ends it; the exit status is the worst. Ctrl-C cleans up
 * the file being written and stops (util/temp-files), as for one file.
 */
async function optimizeMany(io: CliIO, result: CommandResult, files: string[], args: { json?: boolean; quiet?: boolean }, one: (file: string) => Promise<OptimizeResult>): Promise<void> {
  if (files.includes('-')) throw new VmaError('VMA_USAGE', -1, 'several archives are optimized in place: stdin (-) cannot be one of them')
  let worst = 0
  let optimized = 0
  let unchanged = 0
  let failed = 0
  let before = 0
  let after = 0
  const reports: object[] = []
  for (const file of files) {
    try {
      const r = await one(file)
      if (r.written) optimized++
      else unchanged++
      before += r.inputBytes >= 0 ? r.inputBytes : r.plainBytes
      after += r.outputBytes
      reports.push(optimizeJson(r))
    } catch (e) {
      failed++
      const code = reportError(io, e)
      worst = Math.max(worst, code)
      reports.push({ src: file, error: e instanceof VmaError ? { code: e.code, message: e.message } : { code: 'VMA_INTERNAL', message: String(e) } })
    }
  }
  if (args.json) io.stdout.write(JSON.stringify(reports, null, 2) + '\n')
  else if (!args.quiet || failed) {
    io.stdout.write(`${files.length} archives: ${optimized} optimized, ${unchanged} already optimized, ${failed} failed; ${humanBytes(before)} -> ${humanBytes(after)}\n`)
  }
  result.exitCode = worst
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
    ...(r.share ? { share: { sharedBytes: r.share.shared, differingRanges: r.share.differ, why: r.share.why ?? null } } : {}),
  }
}

/** One line: what sharing saved, or why nothing was shared. */
function shareLine(s: ShareResult): string {
  return s.why ? `share: ${s.why}` : `share: ${humanBytes(s.shared)} shared with the archives given by --share-with`
}

function summaryLine(r: OptimizeResult): string {
  if (!r.written) return `${r.src}: already optimized, left unchanged (${(r.seconds).toFixed(1)} s)`
  const before = r.inputBytes >= 0 ? humanBytes(r.inputBytes) : humanBytes(r.plainBytes)
  const to = r.dest === r.src ? 'in place' : `-> ${r.dest === '-' ? 'stdout' : r.dest}`
  const note = r.alreadyOptimized ? ', was already optimized' : ''
  return `${r.src}: optimized ${to}, ${before} -> ${humanBytes(r.outputBytes)}, ${r.devices.length} device${r.devices.length === 1 ? '' : 's'} ${r.checked ? (r.trim && r.trim.report.freeBytes > 0 ? 'proven equal to the input outside the free space' : 'proven unchanged') : 'NOT checked (--no-check)'} in ${r.seconds.toFixed(1)} s${note}`
}
