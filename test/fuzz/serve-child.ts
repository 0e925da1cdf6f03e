// `vma-opt serve` as a child process for the fuzz targets: started in its own
// process group, watched until it says where it listens (or exits), its peak
// RSS read from /proc while it runs, stopped with SIGTERM and judged like any
// command (run-case.ts judge): a clean exit, no stack trace, no hang.

import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { CommandResult } from './run-case.js'

export interface ServeChild {
  pid: number
  /** False when serve exited before listening; `result` then says how. */
  listening: boolean
  stdout: () => string
  stderr: () => string
  /** Peak RSS so far (VmHWM), in KiB; 0 once it is gone. */
  peakRssKb(): number
  alive(): boolean
  /** SIGTERM (after `graceMs`, 30 s by default as the machine may be loaded, a SIGKILL to the group and timedOut), then the result. */
  stop(graceMs?: number): Promise<CommandResult>
}

export async function startServe(bin: string, dir: string, args: string[], startMs: number): Promise<ServeChild> {
  const t0 = Date.now()
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: join(dir, 'tmp') }
  delete env.NODE_OPTIONS
  delete env.VMA_OPT_DEBUG
  const child = spawn(process.execPath, [bin, 'serve', ...args], { cwd: dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  let peak = 0
  child.stdout!.on('data', (d: Buffer) => {
    if (out.length < 65536) out += d.toString()
  })
  child.stderr!.on('data', (d: Buffer) => {
    if (err.length < 65536) err += d.toString()
  })
  const closed = new Promise<[number | null, string | null]>(r => child.on('close', (code, sig) => r([code, sig])))
  let exited: [number | null, string | null] | undefined
  void closed.then(x => (exited = x))
  const killGroup = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch {
      /* gone */
    }
  }
  const readPeak = () => {
    try {
      const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))
      if (m) peak = Math.max(peak, Number(m[1]))
    } catch {
      /* gone */
    }
    return peak
  }
  let timedOut = false
  const listening = await new Promise<boolean>(resolve => {
    const timer = setTimeout(() => {
      timedOut = true
      resolve(false)
    }, startMs)
    // Listening once every export's line is out: "serving N exports ...", then N lines (seed 20261206 nbd cases 34, 88 read too soon).
    const check = () => {
      const n = Number(/serving (\d+) exports?/.exec(out)?.[1] ?? 1)
      if (/serving .*\n/.test(out) && (out.match(/^\s+nbd(\+unix)?:\/\/.*\n/gm) ?? []).length >= n) {
        clearTimeout(timer)
        resolve(true)
      }
    }
    child.stdout!.on('data', check)
    void closed.then(() => {
      clearTimeout(timer)
      resolve(false)
    })
  })
  const result = async (): Promise<CommandResult> => {
    const [status, signal] = await closed
    killGroup()
    return { args: ['serve', ...args], status, signal, timedOut, rssKb: peak, stderr: err, stdout: out, ms: Date.now() - t0 }
  }
  return {
    pid: child.pid!,
    listening,
    stdout: () => out,
    stderr: () => err,
    peakRssKb: readPeak,
    alive: () => exited === undefined,
    stop: async (graceMs = 30_000) => {
      readPeak()
      if (exited === undefined) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => {
          timedOut = true
          killGroup()
        }, graceMs)
        await closed
        clearTimeout(timer)
      }
      return result()
    },
  }
}

/**
 * What is wrong with a serve that was stopped: one that listened must end
 * with 143 (SIGTERM's status) within the grace time; one that did not must
 * have failed cleanly (judge); either way no stack trace, only vma-opt's own
 * lines on stderr, and a peak RSS within the limit.
 */
export function judgeServe(r: CommandResult, listening: boolean, maxRssKb: number, judge: (r: CommandResult) => string[]): string[] {
  if (!listening) return judge(r)
  const bad: string[] = []
  const cmd = `vma-opt ${r.args.join(' ')}`
  if (r.timedOut) bad.push(`${cmd}: did not stop within its grace time after SIGTERM (hang)`)
  else if (r.status !== 143) bad.push(`${cmd}: exit ${r.status}${r.signal ? ` (${r.signal})` : ''} after SIGTERM, not 143: ${r.stderr.trim().split('\n').pop()}`)
  if (/^\s+at .+[:(]/m.test(r.stderr)) bad.push(`${cmd}: a stack trace on stderr`)
  const stray = r.stderr.split('\n').filter(l => l.trim() !== '' && !l.startsWith('vma-opt: '))
  if (stray.length) bad.push(`${cmd}: stderr holds more than vma-opt's own lines: ${JSON.stringify(stray.slice(0, 3))}`)
  if (/internal error|VMA_INTERNAL/.test(r.stderr)) bad.push(`${cmd}: an internal error: ${r.stderr.split('\n').find(l => /internal/i.test(l))}`)
  if (r.rssKb > maxRssKb) bad.push(`${cmd}: peak RSS ${Math.round(r.rssKb / 1024)} MB is over ${Math.round(maxRssKb / 1024)} MB`)
  return bad
}
