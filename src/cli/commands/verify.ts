import type { Argv } from 'yargs'
import { command } from '../command.js'
import { EXIT_INVALID } from '../../util/errors.js'
import { inspectArchive, type ArchiveReport } from '../../check/inspect.js'
import type { CliIO, CommandResult } from '../cli-io.js'
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
        .positional('more', { type: 'string', array: true, describe: 'with --base: the rest of the deltas, in chain order' })
        .option('base', { type: 'string', describe: 'check that SRC (and MORE) are a chain of deltas on this full archive that reproduces what the newest recorded' })
        .option('tmpdir', { type: 'string', describe: 'with --base: where a pipe or compressed input is spooled' })
        .example('$0 verify backup.vma', 'headers only: fast')
        .example('$0 verify --base today.vma.zst yesterday.vma-delta.zst', 'a reverse delta and its base')
        .example('zstdcat backup.vma.zst | $0 verify -', 'from a pipe'),
    handler: async args => {
      if (args.more?.length && !args.base) throw new VmaError('VMA_USAGE', -1, 'verify takes one archive; several only with --base (a chain of deltas)')
      if (args.base) return verifyChainCommand(io, result, args)
      const progress = makeProgress(io.stderr, 'verifying', 0, !!args.quiet)
      let r: ArchiveReport
      try {
        r = await inspectArchive(args.src, { stdin: io.stdin, allowDelta: true, readData: args.data, digest: args.digest, progress: n => progress.update(n) })
      } catch (e) {
        progress.done()
        if (args.json && e instanceof VmaError && e.exitCode === EXIT_INVALID) {
          // Scripts get a report even when the structure is broken.
          io.stdout.write(JSON.stringify({ file: e.file, ok: false, problems: [{ code: e.code, offset: e.offset >= 0 ? e.offset : null, message: e.message }] }, null, 2) + '\n')
        }
        throw e
      }
      progress.done()
      const ok = r.problemCount === 0
      if (args.json) io.stdout.write(JSON.stringify(verifyJson(r, ok), null, 2) + '\n')
      if (!ok) {
        const first = r.problems[0]!
        const more = r.problemCount > 1 ? ` [and ${r.problemCount - 1} more problem${r.problemCount > 2 ? 's' : ''}]` : ''
        io.stderr.write(`vma-opt: ${r.file}: ${first.message} (${first.code})${more}\n`)
        result.exitCode = EXIT_INVALID
        return
      }
      if (!args.json && !args.quiet) {
        const clusters = r.devices.reduce((a, d) => a + d.clustersSeen, 0)
        const how = r.dataRead ? 'all data read' : 'headers checked, data not read'
        const kind = r.delta ? 'delta, ' : ''
        io.stdout.write(`${r.file}: ok: ${kind}${r.devices.length} device${r.devices.length === 1 ? '' : 's'}, ${thousands(clusters)} clusters, ${r.extents} extents (${how})\n`)
        if (r.delta) io.stdout.write(`  a delta alone proves only its structure; check it against its base with --base\n`)
        for (const d of r.devices) if (d.digest) io.stdout.write(`  ${d.name}: digest ${d.digest}\n`)
      }
      for (const w of r.warnings) io.stderr.write(`vma-opt: ${r.file}: warning: ${w}\n`)
      result.exitCode = 0
    },
  })
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
