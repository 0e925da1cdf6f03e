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
      { name: 'drive-scsi0', size: Math.floor(disk * 0.75 / 65536) * 65536 },
      { name: 'drive-scsi1', size: Math.floor(disk * 0.25 / 65536) * 65536 },
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

/** Runs per contender (VMA_BENCH_RUNS, default 3): the best is reported. */
export const RUNS = Number(process.env.VMA_BENCH_RUNS ?? 3)

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
  seconds: number
  /** Peak RSS of the vma-opt process in MB (vma-opt contenders only). */
  rssMB?: number
}

/**
 * Runs every contender RUNS times, round-robin (so a slow spell on this
 * shared machine hits all of them alike), and keeps each one's best time.
 * `before` runs untimed ahead of every run: `sync` by default, so dirty pages
 * left by one run do not slow the next.
 */
export function race(contenders: Contender[], before = 'sync'): Timing[] {
  const out: Timing[] = contenders.map(c => ({ label: c.label, seconds: Infinity, ...(c.vmaOpt ? { rssMB: 0 } : {}) }))
  const rss = join(DATA, 'rss.txt')
  for (let r = 0; r < RUNS; r++) {
    contenders.forEach((c, i) => {
      const cmd = c.vmaOpt ? `${c.stdinFrom ? `cat '${c.stdinFrom}' | ` : ''}node '${RUN_CLI}' '${rss}' ${c.cmd}` : c.cmd
      if (c.setup) sh(c.setup)
      sh(before)
      const t = out[i]!
      t.seconds = Math.min(t.seconds, sh(cmd))
      if (c.vmaOpt) t.rssMB = Math.max(t.rssMB!, Number(spawnSync('cat', [rss]).stdout.toString()) / 1024)
    })
  }
  return out
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
