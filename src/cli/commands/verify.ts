import type { Argv } from 'yargs'
import { command } from '../command.js'
import { EXIT_INVALID } from '../../util/errors.js'
import { inspectArchive, type ArchiveReport } from '../../check/inspect.js'
import type { CliIO, CommandResult } from '../cli-io.js'
import { reportError } from '../report-error.js'
import { thousands } from '../../util/human.js'
import { makeProgress } from '../progress.js'
import { VmaError } from '../../util/errors.js'
import { describeIdentity } from '../../format/delta-identity.js'

interface VerifyArgs {
  src: string
  more?: string[]
  base?: string
  tmpdir?: string
  json?: boolean
  data?: boolean
  digest?: boolean
  quiet?: boolean
}

export function verifyCommand(io: CliIO, result: CommandResult) {
  return command({
    command: 'verify <src> [more..]',
    describe: 'Check an archive completely: everything Proxmox checks, plus missing clusters, unknown devices and unsafe names',
    builder: (y: Argv) =>
      y
        .positional('src', { type: 'string', describe: 'archive path, or - for stdin (plain, .zst, .gz or .lzo)', demandOption: true })
        .option('json', { type: 'boolean', describe: 'print a JSON report on stdout' })
        .option('data', { type: 'boolean', describe: 'read every data block even from a plain file (default: headers only, as data has no checksum)' })
        .option('digest', { type: 'boolean', describe: 'also print per-device content digests (reads all data)' })
        .option('quiet', { alias: 'q', type: 'boolean', describe: 'print nothing on success, no progress' })
        .positional('more', { type: 'string', array: true, describe: 'more archives to check, one after another (with --base: the rest of the deltas, in chain order)' })
        .option('base', { type: 'string', describe: 'check that SRC (and MORE) are a chain of deltas on this full archive that reproduces what the newest recorded' })
        .option('tmpdir', { type: 'string', describe: 'with --base: where a pipe or compressed input is spooled' })
        .example('$0 verify backup.vma', 'headers only: fast')
        .example('$0 verify /var/lib/vz/dump/*.vma.zst', 'every backup in a dump directory; exit status: the worst')
        .example('$0 verify --base today.vma.zst yesterday.vma-delta.zst', 'a reverse delta and its base')
        .example('zstdcat backup.vma.zst | $0 verify -', 'from a pipe'),
    handler: async args => {
      if (args.base) return verifyChainCommand(io, result, args)
      const files = [args.src, ...(args.more ?? [])]
      if (files.filter(f => f === '-').length > 1) throw new VmaError('VMA_USAGE', -1, 'stdin (-) can be read only once')
      if (files.length === 1) {
        const one = await verifyOne(io, files[0]!, args, true)
        if (args.json) io.stdout.write(JSON.stringify(one.json, null, 2) + '\n')
        result.exitCode = one.exitCode
        return
      }
      // Several archives (`verify dump/*.vma.zst`): each is checked and
      // reported on its own, a damaged one does not stop the rest, and the
      // exit status is the worst of them.
      const reports: object[] = []
      let worst = 0
      let bad = 0
      for (const file of files) {
        let one: { exitCode: number; json: object }
        try {
          one = await verifyOne(io, file, args, false)
        } catch (e) {
          const exitCode = reportError(io, e)
          const v = e instanceof VmaError ? e : undefined
          one = { exitCode, json: { file, ok: false, problems: [{ code: v?.code ?? 'VMA_INTERNAL', offset: v && v.offset >= 0 ? v.offset : null, message: v?.message ?? String(e) }] } }
        }
        reports.push(one.json)
        if (one.exitCode !== 0) bad++
        worst = Math.max(worst, one.exitCode)
      }
      if (args.json) io.stdout.write(JSON.stringify(reports, null, 2) + '\n')
      else if (!args.quiet || bad) io.stdout.write(`${files.length} archives: ${files.length - bad} ok, ${bad} failed\n`)
      result.exitCode = worst
    },
  })
}

/** Checks one archive: one line on success, the first problem on stderr otherwise; throws when the structure is broken. */
async function verifyOne(io: CliIO, src: string, args: VerifyArgs, alone: boolean): Promise<{ exitCode: number; json: object }> {
  const progress = makeProgress(io.stderr, 'verifying', 0, !!args.quiet)
  let r: ArchiveReport
  try {
    r = await inspectArchive(src, { stdin: io.stdin, allowDelta: true, readData: args.data, digest: args.digest, progress: n => progress.update(n) })
  } catch (e) {
    progress.done()
    if (alone && args.json && e instanceof VmaError && e.exitCode === EXIT_INVALID) {
      // Scripts get a report even when the structure is broken (several files: in the array).
      io.stdout.write(JSON.stringify({ file: e.file, ok: false, problems: [{ code: e.code, offset: e.offset >= 0 ? e.offset : null, message: e.message }] }, null, 2) + '\n')
    }
    throw e
  }
  progress.done()
  const ok = r.problemCount === 0
  for (const w of r.warnings) io.stderr.write(`vma-opt: ${r.file}: warning: ${w}\n`)
  if (!ok) {
    const first = r.problems[0]!
    const more = r.problemCount > 1 ? ` [and ${r.problemCount - 1} more problem${r.problemCount > 2 ? 's' : ''}]` : ''
    io.stderr.write(`vma-opt: ${r.file}: ${first.message} (${first.code})${more}\n`)
    return { exitCode: EXIT_INVALID, json: verifyJson(r, ok) }
  }
  if (!args.json && !args.quiet) {
    const clusters = r.devices.reduce((a, d) => a + d.clustersSeen, 0)
    const how = r.dataRead ? 'all data read' : 'headers checked, data not read'
    const kind = r.delta ? 'delta, ' : ''
    io.stdout.write(`${r.file}: ok: ${kind}${r.devices.length} device${r.devices.length === 1 ? '' : 's'}, ${thousands(clusters)} clusters, ${r.extents} extents (${how})\n`)
    if (r.delta) io.stdout.write(`  a delta alone proves only its structure; check it against its base with --base\n`)
    for (const d of r.devices) if (d.digest) io.stdout.write(`  ${d.name}: digest ${d.digest}\n`)
  }
  return { exitCode: 0, json: verifyJson(r, ok) }
}

async function verifyChainCommand(io: CliIO, result: CommandResult, args: VerifyArgs): Promise<void> {
  const { verifyChain } = await import('../../delta/verify-chain.js') // loaded when used: start-up stays short
  const r = await verifyChain(args.base!, [args.src, ...(args.more ?? [])], { stdin: io.stdin, tmpdir: args.tmpdir })
  if (args.json) io.stdout.write(JSON.stringify({ ok: true, ...r }, null, 2) + '\n')
  else if (!args.quiet) {
    io.stdout.write(`chain ok: ${r.base} + ${r.deltas.join(' + ')} reproduces ${describeIdentity(r.target)}\n`)
  }
  result.exitCode = 0
}

function verifyJson(r: ArchiveReport, ok: boolean) {
  return {
    file: r.file,
    ok,
    kind: r.delta ? 'delta' : 'archive',
    compression: r.compression,
    uuid: r.uuid,
    size: r.size,
    extents: r.extents,
    dataRead: r.dataRead,
    sorted: r.sorted,
    optimized: r.optimized,
    devices: r.devices,
    configs: r.configs,
    problems: r.problems,
    problemCount: r.problemCount,
    warnings: r.warnings,
  }
}
