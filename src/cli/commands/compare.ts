import type { Argv } from 'yargs'
import { command } from '../command.js'
import type { Comparison } from '../../compare/compare.js'
import { installSignalCleanup } from '../../util/temp-files.js'
import type { CliIO, CommandResult } from '../cli-io.js'
import { humanBytes, thousands } from '../../util/human.js'

export function compareCommand(io: CliIO, result: CommandResult) {
  return command({
    command: 'compare <a> <b>',
    describe: 'How much two backups differ, per device and 4 KiB block, and what a dedup store adds for B given A',
    builder: (y: Argv) =>
      y
        .positional('a', { type: 'string', describe: 'the older archive (path or -)', demandOption: true })
        .positional('b', { type: 'string', describe: 'the newer archive (path or -)', demandOption: true })
        .option('json', { type: 'boolean', describe: 'print one JSON object' })
        .option('tmpdir', { type: 'string', describe: 'where a pipe or compressed input is spooled (default: the system temp dir)' })
        .example('$0 compare monday.vma.zst tuesday.vma.zst', ''),
    handler: async args => {
      installSignalCleanup()
      const { compareArchives } = await import('../../compare/compare.js') // loaded when used: start-up stays short
      const r = await compareArchives(args.a, args.b, { stdin: io.stdin, tmpdir: args.tmpdir })
      io.stdout.write(args.json ? JSON.stringify(r, null, 2) + '\n' : compareText(r))
      result.exitCode = 0
    },
  })
}

function pct(part: number, whole: number): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : '-'
}

export function compareText(r: Comparison): string {
  const w = Math.max(6, ...r.devices.map(d => d.name.length))
  const n = (x: number) => thousands(x).padStart(10)
  const lines = [`A: ${r.a}`, `B: ${r.b}`, '']
  lines.push(
    `${'device'.padEnd(w)}  ${'size in B'.padStart(10)}  ${'same'.padStart(10)}${'changed'.padStart(10)}${'now zero'.padStart(10)}${'new data'.padStart(10)}  ${'clusters'.padStart(10)}${'changed'.padStart(10)}`,
  )
  lines.push(`${''.padEnd(w)}  ${''.padStart(10)}  ${'---------- 4 KiB blocks ----------'.padStart(40)}  ${'---- 64 KiB ----'.padStart(20)}`)
  for (const d of [...r.devices, { ...r.total, name: 'total', sizeA: 0, sizeB: r.devices.reduce((a, x) => a + (x.sizeB ?? 0), 0) }]) {
    const size = d.sizeB === null ? 'only in A' : humanBytes(d.sizeB)
    lines.push(`${d.name.padEnd(w)}  ${size.padStart(10)}  ${n(d.same)}${n(d.changed)}${n(d.newlyZero)}${n(d.newlyData)}  ${n(d.clustersSame + d.clustersChanged)}${n(d.clustersChanged)}`)
  }
  const onlyB = r.devices.filter(d => d.sizeA === null).map(d => d.name)
  if (onlyB.length) lines.push(`only in B: ${onlyB.join(', ')}`)
  const cfg = r.configs.filter(c => c.status !== 'same')
  lines.push('', `configs: ${cfg.length ? cfg.map(c => `${c.name} ${c.status}`).join(', ') : 'same'}`)
  const t = r.total
  const data = t.dataB * 4096
  lines.push(
    '',
    r.identical
      ? 'A and B hold the same content.'
      : `A block-level dedup store that holds A adds for B (${humanBytes(data)} of data, ${t.changedRuns} changed place${t.changedRuns === 1 ? '' : 's'}):`,
  )
  if (!r.identical) {
    lines.push(`  at 4 KiB blocks:    ${humanBytes(t.added4k)} (${pct(t.added4k, data)})`)
    lines.push(`  at 64 KiB clusters: ${humanBytes(t.added64k)} (${pct(t.added64k, data)})`)
  }
  return lines.join('\n') + '\n'
}
