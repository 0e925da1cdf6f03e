// Shared by the benchmarks: a large Proxmox-like archive, timing of shell
// commands, and peak RSS of a vma-opt run. Speeds are reported as ratios to a
// baseline (cat, cp) measured in the same run: the machine is shared and
// absolute numbers mean little.

import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { writeSampleArchive } from '../src/sample/sample-archive.js'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const BIN = join(ROOT, 'bin', 'vma-opt')
export const RUN_CLI = join(ROOT, 'dist', 'bench', 'run-cli.js')
export const DATA = process.env.VMA_BENCH_DIR ?? join(ROOT, 'bench-data')

/** GiB of archive to build (VMA_BENCH_GIB, default 2). */
export const GIB = Number(process.env.VMA_BENCH_GIB ?? 2)

/** A large archive with interleaved, out-of-order devices; built once and reused. */
export async function benchArchive(): Promise<string> {
  mkdirSync(DATA, { recursive: true })
  const path = join(DATA, `bench-${GIB}g.vma`)
  if (existsSync(path)) return path
  // With fill 0.9 the archive is about 75% of the disk size: size the disks so it exceeds GIB.
  const disk = Math.ceil((GIB * 2 ** 30) / 0.7 / 65536) * 65536
  process.stderr.write(`building ${path} ...\n`)
  await writeSampleArchive(path, {
    devices: [
      { name: 'drive-efidisk0', size: 540672 },
      { name: 'drive-scsi0', size: Math.floor((disk * 0.75) / 65536) * 65536 },
      { name: 'drive-scsi1', size: Math.floor((disk * 0.25) / 65536) * 65536 },
    ],
    fill: 0.9,
    seed: 7,
  })
  return path
}

export function sh(cmd: string): number {
  const t = process.hrtime.bigint()
  const r = spawnSync('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'] })
  if (r.status !== 0) throw new Error(`failed (${r.status}): ${cmd}`)
  return Number(process.hrtime.bigint() - t) / 1e9
}

/** Seconds every run waits after its setup (VMA_BENCH_SETTLE, default 3; see race). */
export const SETTLE = Number(process.env.VMA_BENCH_SETTLE ?? 3)

/** Runs per contender (VMA_BENCH_RUNS, default 5): the median is reported. */
export const RUNS = Number(process.env.VMA_BENCH_RUNS ?? 5)

export interface Contender {
  label: string
  /** A shell command, or vma-opt arguments when `vmaOpt` is set. */
  cmd: string
  vmaOpt?: boolean
  /** File piped into vma-opt's stdin. */
  stdinFrom?: string
  /** Untimed shell command before each run (removing the last run's output), before the sync. */
  setup?: string
}

export interface Timing {
  label: string
  /** Median over the runs. */
  seconds: number
  /** Every run's time, to show how noisy the machine was. */
  runs: number[]
  /** Peak RSS of the vma-opt process in MB (vma-opt contenders only; the most of any run). */
  rssMB?: number
  /** Median seconds of each of optimize's passes (read/check, write, read back), from VMA_OPT_TRACE. */
  passes?: number[]
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

/** Ends of the passes VMA_OPT_TRACE printed, as durations of each. */
function passTimes(stderr: string): number[] {
  const ends = [/trace: pass 1 \(.*?([\d.]+) s/, /trace: pass 2 \(write.*?([\d.]+) s/, /trace: pass 3 \(.*?([\d.]+) s/].map(re => Number(re.exec(stderr)?.[1] ?? NaN))
  return ends.map((e, i) => e - (i ? ends[i - 1]! : 0))
}

/**
 * Runs every contender RUNS times, round-robin (so a slow spell on this
 * shared machine hits all of them alike), and reports each one's median.
 * `before` runs untimed ahead of every run: `sync` by default, so dirty pages
 * left by one run do not slow the next. Then every run waits SETTLE seconds:
 * on a VM whose balloon reports free pages to the host (this one does), memory
 * freed by a setup's `rm` is handed back about two seconds later, and writing
 * into it again costs a host fault per page. A `cp` started at once reuses
 * the pages its own `rm` just freed (0.45 s for 2.3 GB here) while anything
 * that starts writing a second later pays the faults (3.9-4.4 s for the same
 * cp after a pause): without the pause the baseline gets a head start no
 * other contender can have.
 */
export function race(contenders: Contender[], before = 'sync'): Timing[] {
  const samples = contenders.map(() => ({ runs: [] as number[], rss: 0, passes: [] as number[][] }))
  const rss = join(DATA, 'rss.txt')
  for (let r = 0; r < RUNS; r++) {
    contenders.forEach((c, i) => {
      const cmd = c.vmaOpt ? `${c.stdinFrom ? `cat '${c.stdinFrom}' | ` : ''}VMA_OPT_TRACE=1 node '${RUN_CLI}' '${rss}' ${c.cmd}` : c.cmd
      if (c.setup) sh(c.setup)
      sh(before)
      if (SETTLE > 0) sh(`sleep ${SETTLE}`)
      const t = process.hrtime.bigint()
      const run = spawnSync('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 20 })
      const seconds = Number(process.hrtime.bigint() - t) / 1e9
      if (run.status !== 0) throw new Error(`failed (${run.status}): ${cmd}\n${run.stderr}`)
      const s = samples[i]!
      s.runs.push(seconds)
      if (c.vmaOpt) {
        s.rss = Math.max(s.rss, Number(spawnSync('cat', [rss]).stdout.toString()) / 1024)
        s.passes.push(passTimes(run.stderr.toString()))
      }
    })
  }
  return contenders.map((c, i) => {
    const s = samples[i]!
    const passes = s.passes.length && s.passes.every(p => p.every(x => !Number.isNaN(x))) ? [0, 1, 2].map(k => median(s.passes.map(p => p[k]!))) : undefined
    return { label: c.label, seconds: median(s.runs), runs: s.runs, ...(c.vmaOpt ? { rssMB: s.rss } : {}), ...(passes ? { passes } : {}) }
  })
}

/** Prints timings as ratios to the first one. */
export function table(timings: Timing[]): void {
  const base = timings[0]!.seconds
  for (const t of timings) console.log(row(t.label, t.seconds, base, t.rssMB !== undefined ? `  peak RSS ${t.rssMB.toFixed(0)} MB` : ''))
}

export function size(path: string): number {
  return statSync(path).size
}

export function row(label: string, seconds: number, base: number, extra = ''): string {
  return `${label.padEnd(44)} ${seconds.toFixed(2).padStart(7)} s  ${(seconds / base).toFixed(2).padStart(5)}x${extra}`
}
