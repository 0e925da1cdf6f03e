import type { Argv, CommandModule } from 'yargs'
import { inspectArchive, readArchiveHeader, type ArchiveReport } from '../../check/inspect.js'
import { vmaListText } from '../../format/list-format.js'
import { cTime } from '../../format/ctime.js'
import type { CliIO, CommandResult } from '../cli-io.js'
import { bytesWithHuman, thousands } from '../../util/human.js'
import { makeProgress } from '../progress.js'

interface InfoArgs {
  src: string
  json?: boolean
  list?: boolean
  quiet?: boolean
}

export function infoCommand(io: CliIO, result: CommandResult): CommandModule<object, InfoArgs> {
  return {
    command: 'info <src>',
    describe: 'Show what an archive holds: uuid, time, configs, devices, order and form',
    builder: (y: Argv) =>
      y
        .positional('src', { type: 'string', describe: 'archive path, or - for stdin (plain, .zst, .gz or .lzo)', demandOption: true })
        .option('json', { type: 'boolean', describe: 'print one JSON object' })
        .option('list', { type: 'boolean', describe: "print exactly what Proxmox's `vma list` prints" })
        .option('quiet', { alias: 'q', type: 'boolean', describe: 'no progress on stderr' })
        .conflicts('json', 'list')
        .example('$0 info backup.vma.zst', '')
        .example('zstdcat backup.vma.zst | $0 info --list -', '') as Argv<InfoArgs>,
    handler: async args => {
      if (args.list) {
        const h = await readArchiveHeader(args.src, { stdin: io.stdin })
        io.stdout.write(vmaListText(h))
        return
      }
      const progress = makeProgress(io.stderr, 'reading', 0, !!args.quiet)
      const r = await inspectArchive(args.src, { stdin: io.stdin, progress: n => progress.update(n) })
      progress.done()
      if (args.json) io.stdout.write(JSON.stringify(infoJson(r), null, 2) + '\n')
      else io.stdout.write(infoText(r))
      result.exitCode = 0
    },
  }
}

export function infoJson(r: ArchiveReport) {
  return {
    file: r.file,
    compression: r.compression,
    uuid: r.uuid,
    ctime: r.ctime,
    ctimeIso: new Date(r.ctime * 1000).toISOString(),
    headerSize: r.headerSize,
    size: r.size,
    extents: r.extents,
    configs: r.configs.map(c => ({ name: c.name, size: c.size, slot: c.slot })),
    devices: r.devices.map(d => ({ id: d.id, name: d.name, size: d.size, clusters: d.clusters, storedBlocks: d.storedBlocks, zeroClusters: d.zeroClusters })),
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
  lines.push(`${pad('uuid')}${r.uuid}`)
  lines.push(`${pad('created')}${cTime(r.ctime)} (${r.ctime})`)
  lines.push(`${pad('size')}${bytesWithHuman(r.size)}${r.compression === 'none' ? '' : ' uncompressed'}, header ${thousands(r.headerSize)} bytes, ${r.extents} extent${r.extents === 1 ? '' : 's'}`)
  lines.push(`configs:${r.configs.length ? '' : '   none'}`)
  const cw = Math.max(0, ...r.configs.map(c => c.name.length))
  for (const c of r.configs) lines.push(`  ${c.name.padEnd(cw)}  ${thousands(c.size).padStart(6)} bytes`)
  lines.push(`devices:${r.devices.length ? '' : '   none'}`)
  const dw = Math.max(0, ...r.devices.map(d => d.name.length))
  for (const d of r.devices) {
    lines.push(`  ${String(d.id).padStart(3)}  ${d.name.padEnd(dw)}  ${bytesWithHuman(d.size)}, ${thousands(d.clusters)} clusters, ${thousands(d.storedBlocks)} stored blocks`)
  }
  lines.push(`${pad('order')}${r.sorted ? 'sorted by device and cluster' : 'not sorted (devices interleaved or clusters out of order)'}`)
  const form = r.optimized ? 'optimized' : `not optimized: ${r.notOptimizedBecause.join('; ')}`
  lines.push(`${pad('form')}${form}${r.optimized && !r.dataRead ? ' (judged from headers; data not read)' : ''}`)
  if (r.problemCount) lines.push(`${pad('problems')}${r.problemCount} (run vma-opt verify for details)`)
  for (const w of r.warnings) lines.push(`${pad('warning')}${w}`)
  return lines.join('\n') + '\n'
}
