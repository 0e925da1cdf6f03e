import type { Argv } from 'yargs'
import { command } from '../command.js'
import { inspectArchive, readArchiveHeader, type ArchiveReport } from '../../check/inspect.js'
import { vmaListText } from '../../format/list-format.js'
import { cTime, isoTime } from '../../format/ctime.js'
import type { CliIO, CommandResult } from '../cli-io.js'
import { bytesWithHuman, humanBytes, thousands } from '../../util/human.js'
import { makeProgress } from '../progress.js'
import { trimOptions, trimOptionsFrom } from '../trim-text.js'
import type { FreeSpaceReport } from '../../trim/free-space.js'
import { VmaError } from '../../util/errors.js'
import { deltaIdentities } from '../../archive/archive-identity.js'
import { describeIdentity } from '../../format/delta-identity.js'

export function infoCommand(io: CliIO, result: CommandResult) {
  return command({
    command: 'info <src>',
    describe: 'Show what an archive holds: uuid, time, configs, devices, order and form',
    builder: (y: Argv) =>
      trimOptions(y)
        .positional('src', { type: 'string', describe: 'archive path, or - for stdin (plain, .zst, .gz or .lzo)', demandOption: true })
        .option('json', { type: 'boolean', describe: 'print one JSON object' })
        .option('list', { type: 'boolean', describe: "print exactly what Proxmox's `vma list` prints" })
        .option('quiet', { alias: 'q', type: 'boolean', describe: 'no progress on stderr' })
        .option('free-space', { type: 'boolean', describe: 'the dry run of --trim: per volume, what its filesystem declares free and how much of that is non-zero today' })
        .option('tmpdir', { type: 'string', describe: 'with --free-space: where a compressed or piped input is spooled (default: the system temp dir)' })
        .conflicts('json', 'list')
        .conflicts('free-space', 'list')
        .example('$0 info backup.vma.zst', '')
        .example('zstdcat backup.vma.zst | $0 info --list -', '')
        .example('$0 info --free-space backup.vma.zst', 'what optimize --trim would zero'),
    handler: async args => {
      if (args.list) {
        const h = await readArchiveHeader(args.src, { stdin: io.stdin })
        // Proxmox's `vma list` refuses a delta (wrong version); so does its imitation.
        if (h.delta) {
          const e = new VmaError('VMA_IS_DELTA', 4, 'this is a vma-opt delta, which `vma list` cannot read; use info without --list', 'header')
          e.file = args.src === '-' ? 'stdin' : args.src
          throw e
        }
        io.stdout.write(vmaListText(h))
        return
      }
      const progress = makeProgress(io.stderr, 'reading', 0, !!args.quiet)
      if (args.freeSpace) {
        const { inspectFreeSpace } = await import('../../trim/free-space.js') // loaded when used: start-up stays short
        const f = await inspectFreeSpace(args.src, { stdin: io.stdin, tmpdir: args.tmpdir, trim: trimOptionsFrom(args), progress: n => progress.update(n) })
        progress.done()
        io.stdout.write(args.json ? JSON.stringify(f, null, 2) + '\n' : freeSpaceText(f))
        result.exitCode = 0
        return
      }
      const r = await inspectArchive(args.src, { stdin: io.stdin, allowDelta: true, progress: n => progress.update(n) })
      progress.done()
      if (args.json) io.stdout.write(JSON.stringify(infoJson(r), null, 2) + '\n')
      else io.stdout.write(infoText(r))
      result.exitCode = 0
    },
  })
}

/** What a delta records about the archive it applies to and the one it reproduces. */
function deltaInfo(r: ArchiveReport) {
  return r.delta ? deltaIdentities(r.header, r.file) : undefined
}

export function infoJson(r: ArchiveReport) {
  return {
    file: r.file,
    kind: r.delta ? 'delta' : 'archive',
    ...(r.delta ? { delta: deltaInfo(r) } : {}),
    compression: r.compression,
    uuid: r.uuid,
    // Exact as a number up to 2^53 seconds, as a decimal string beyond (a damaged header);
    // the ISO form only where a date can show it.
    ctime: Number.isSafeInteger(r.ctime) ? r.ctime : String(r.header.ctimeRaw),
    ctimeIso: isoTime(r.ctime) ?? null,
    headerSize: r.headerSize,
    size: r.size,
    extents: r.extents,
    configs: r.configs.map(c => ({ name: c.name, size: c.size, slot: c.slot })),
    devices: r.devices.map(d => ({
      id: d.id,
      name: d.name,
      size: d.size,
      clusters: d.clusters,
      ...(r.delta ? { heldClusters: d.clustersSeen } : {}),
      storedBlocks: d.storedBlocks,
      zeroClusters: d.zeroClusters,
    })),
    clusters: r.devices.reduce((a, d) => a + d.clustersSeen, 0),
    sorted: r.sorted,
    optimized: r.optimized,
    notOptimizedBecause: r.notOptimizedBecause,
    dataRead: r.dataRead,
    problems: r.problemCount,
    warnings: r.warnings,
  }
}

function infoText(r: ArchiveReport): string {
  const lines: string[] = []
  const pad = (k: string) => (k + ':').padEnd(10)
  lines.push(`${pad('file')}${r.file}${r.compression === 'none' ? '' : ` (${r.compression})`}`)
  const delta = deltaInfo(r)
  if (delta) {
    lines.push(`${pad('kind')}vma-opt delta: restore with vma-opt apply BASE ${r.file === '-' ? 'DELTA' : r.file} OUT`)
    lines.push(`${pad('base')}${describeIdentity(delta.base)}`)
    lines.push(`${pad('target')}${describeIdentity(delta.target)}`)
  }
  lines.push(`${pad('uuid')}${r.uuid}`)
  lines.push(`${pad('created')}${cTime(r.header.ctimeRaw)} (${r.header.ctimeRaw})`)
  lines.push(`${pad('size')}${bytesWithHuman(r.size)}${r.compression === 'none' ? '' : ' uncompressed'}, header ${thousands(r.headerSize)} bytes, ${r.extents} extent${r.extents === 1 ? '' : 's'}`)
  lines.push(`configs:${r.configs.length ? '' : '   none'}`)
  const cw = Math.max(0, ...r.configs.map(c => c.name.length))
  for (const c of r.configs) lines.push(`  ${c.name.padEnd(cw)}  ${thousands(c.size).padStart(6)} bytes`)
  lines.push(`devices:${r.devices.length ? '' : '   none'}`)
  const dw = Math.max(0, ...r.devices.map(d => d.name.length))
  for (const d of r.devices) {
    const held = r.delta ? `, ${thousands(d.clustersSeen)} held (changed)` : ''
    lines.push(`  ${String(d.id).padStart(3)}  ${d.name.padEnd(dw)}  ${bytesWithHuman(d.size)}, ${thousands(d.clusters)} clusters${held}, ${thousands(d.storedBlocks)} stored blocks`)
  }
  lines.push(`${pad('order')}${r.sorted ? 'sorted by device and cluster' : 'not sorted (devices interleaved or clusters out of order)'}`)
  const form = r.optimized ? 'optimized' : `not optimized: ${r.notOptimizedBecause.join('; ')}`
  lines.push(`${pad('form')}${form}${r.optimized && !r.dataRead ? ' (judged from headers; data not read)' : ''}`)
  if (r.problemCount) lines.push(`${pad('problems')}${r.problemCount} (run vma-opt verify for details)`)
  for (const w of r.warnings) lines.push(`${pad('warning')}${w}`)
  return lines.join('\n') + '\n'
}

function freeSpaceText(f: FreeSpaceReport): string {
  const lines = [`file: ${f.file}${f.spooled ? ' (spooled to a temp file for random access)' : ''}`]
  if (f.reason) lines.push(`nothing would be trimmed: ${f.reason}`)
  for (const d of f.disks) {
    lines.push(`${d.name}: ${humanBytes(d.size)}, partition table: ${d.table}${d.notes.length ? ` (${d.notes.join('; ')})` : ''}`)
    const w = Math.max(4, ...d.volumes.map(v => v.id.length))
    const k = Math.max(4, ...d.volumes.map(v => v.kind.length))
    for (const v of d.volumes) {
      const what =
        v.decision === 'trim'
          ? `trim: ${humanBytes(v.freeBytes)} free, ${humanBytes(v.nonZeroFreeBytes)} of it non-zero`
          : v.decision === 'skip'
            ? `skip: ${v.reason ?? ''}`
            : `${v.decision}${v.reason ? `: ${v.reason}` : ''}`
      const label = v.label ? ` '${v.label}'` : ''
      lines.push(`  ${v.id.padEnd(w)}  ${v.kind.padEnd(k)}  ${humanBytes(v.length).padStart(9)}  ${what}${label}`)
    }
  }
  lines.push(`total: ${humanBytes(f.freeBytes)} declared free in trimmable volumes, ${humanBytes(f.nonZeroFreeBytes)} non-zero (what --trim would zero)`)
  return lines.join('\n') + '\n'
}
