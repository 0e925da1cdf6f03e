// Runs the built CLI's commands on one (damaged) archive and judges every
// result: success whose output Proxmox's vma accepts, or a clean one-line
// error with exit 1-3. Never a stack trace, exit 4, a signal, a hang, a
// peak RSS above the limit, or a file left outside the target.

import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { proxmoxReads, type ProxmoxVma } from '../proxmox-vma.js'

export interface CaseOptions {
  /** bin/vma-opt of the checkout. */
  bin: string
  /** A fresh directory for this case; removed by the caller. */
  dir: string
  /** The archive under test (inside `dir`). */
  input: string
  /** The undamaged archive it came from, for `compare`. */
  reference?: string
  timeoutMs: number
  maxRssKb: number
  vma: ProxmoxVma
  /** Varies how optimize is run (stdin pipe, --spool, compressed output). */
  variant: number
}

export interface CommandResult {
  args: string[]
  status: number | null
  signal: string | null
  timedOut: boolean
  rssKb: number
  stderr: string
  stdout: string
  ms: number
}

export interface CaseResult {
  results: CommandResult[]
  failures: string[]
}

const TIME = '/usr/bin/time'

/** One CLI run in its own process group (so a hang kills its decompressors too), peak RSS by /usr/bin/time or /proc polling. */
export function runCli(o: Pick<CaseOptions, 'bin' | 'dir' | 'timeoutMs'>, args: string[], stdinFile?: string): Promise<CommandResult> {
  const t0 = Date.now()
  const rssFile = join(o.dir, '.rss')
  const useTime = existsSync(TIME)
  const cmd = useTime ? TIME : process.execPath
  const argv = useTime ? ['-f', '%M', '-o', rssFile, process.execPath, o.bin, ...args] : [o.bin, ...args]
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: join(o.dir, 'tmp') }
  delete env.NODE_OPTIONS
  delete env.VMA_OPT_DEBUG
  return new Promise(resolve => {
    // A pipe on stdin (not the file itself), so the stdin path is the pipe path.
    const child = spawn(cmd, argv, { cwd: o.dir, env, detached: true, stdio: [stdinFile ? 'pipe' : 'ignore', 'pipe', 'pipe'] })
    if (stdinFile) {
      const data = readFileSync(stdinFile)
      child.stdin!.on('error', () => undefined)
      child.stdin!.end(data)
    }
    let stderr = ''
    let stdout = ''
    child.stdout!.on('data', (d: Buffer) => {
      if (stdout.length < 65536) stdout += d.toString()
    })
    child.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 65536) stderr += d.toString()
    })
    let rssKb = 0
    const poll = useTime
      ? undefined
      : setInterval(() => {
          try {
            const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))
            if (m) rssKb = Math.max(rssKb, Number(m[1]))
          } catch {
            /* gone */
          }
        }, 20)
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {
        /* already gone */
      }
    }, o.timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (poll) clearInterval(poll)
      const status = code
      if (useTime && existsSync(rssFile)) {
        const text = readFileSync(rssFile, 'utf8')
        rssKb = Number(/(\d+)\s*$/.exec(text.trim())?.[1] ?? 0)
        // time reports "Command exited with non-zero status N" / "Command terminated by signal N" before the number.
        const sig = /terminated by signal (\d+)/.exec(text)
        if (sig) signal = `SIG${sig[1]}` as NodeJS.Signals
        rmSync(rssFile, { force: true })
      }
      // Anything the group left behind (a decompressor) goes now.
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {
        /* none */
      }
      resolve({ args, status, signal, timedOut, rssKb, stderr, stdout, ms: Date.now() - t0 })
    })
  })
}

/**
 * Whether Proxmox's extraction (`sum`, `size` bytes) holds the disk our
 * unpack wrote. A device size that is not a multiple of 512 (only a damaged
 * header has one) comes out of `vma extract` padded with zeros to the next
 * sector, as qemu sizes raw images; unpack writes the size the header says.
 */
export function sameDisk(ours: string, sum: string, size: number): boolean {
  const data = readFileSync(ours)
  if (size < data.length || size - data.length >= 512) return false
  return (
    createHash('sha256')
      .update(data)
      .update(Buffer.alloc(size - data.length))
      .digest('hex') === sum
  )
}

/** What is wrong with one result, if anything. */
export function judge(r: CommandResult, o: Pick<CaseOptions, 'timeoutMs' | 'maxRssKb'>): string[] {
  const bad: string[] = []
  const cmd = `vma-opt ${r.args.join(' ')}`
  if (r.timedOut) bad.push(`${cmd}: no result within ${o.timeoutMs} ms (hang)`)
  else if (r.signal) bad.push(`${cmd}: killed by ${r.signal}`)
  else if (r.status === null || r.status > 3) bad.push(`${cmd}: exit ${r.status}: ${r.stderr.trim().split('\n').pop()}`)
  if (/^\s+at .+[:(]/m.test(r.stderr)) bad.push(`${cmd}: a stack trace on stderr`)
  if (r.status !== 0 && !r.timedOut && !r.signal) {
    const lines = r.stderr.split('\n').filter(l => l.trim() !== '')
    const last = lines[lines.length - 1] ?? ''
    // verify adds how many more problems it found after the first one's code.
    if (!/^vma-opt: .+ \([A-Z0-9_]+\)( \[and \d+ more problems?\])?$/.test(last)) bad.push(`${cmd}: the error is not one clean line: ${JSON.stringify(r.stderr.slice(-300))}`)
    if (lines.some(l => !l.startsWith('vma-opt:'))) bad.push(`${cmd}: stderr holds more than vma-opt's own lines: ${JSON.stringify(r.stderr.slice(0, 300))}`)
  }
  if (r.rssKb > o.maxRssKb) bad.push(`${cmd}: peak RSS ${Math.round(r.rssKb / 1024)} MB is over ${Math.round(o.maxRssKb / 1024)} MB`)
  return bad
}

/** Every path under `dir`, relative, directories with a trailing slash. */
export function listTree(dir: string, prefix = ''): string[] {
  const out: string[] = []
  for (const e of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix + e.name
    if (e.isDirectory()) out.push(rel + '/', ...listTree(dir, rel + '/'))
    else out.push(rel)
  }
  return out
}

export async function runCase(o: CaseOptions): Promise<CaseResult> {
  mkdirSync(join(o.dir, 'tmp'), { recursive: true })
  const inName = o.input.slice(o.dir.length + 1)
  const outName = ['out.vma', 'out.vma', 'out.vma.zst', 'out.vma.gz'][o.variant % 4]!
  const results: CommandResult[] = []
  const failures: string[] = []
  const run = async (args: string[], stdin?: string) => {
    const r = await runCli(o, args, stdin)
    results.push(r)
    failures.push(...judge(r, o))
    return r
  }
  const verify = await run(o.variant % 5 === 4 ? ['verify', '--data', '-'] : ['verify', '--data', inName], o.variant % 5 === 4 ? o.input : undefined)
  await run(o.variant % 2 ? ['info', '--json', inName] : ['info', inName])
  const unpack = await run(['unpack', inName, 'unpacked'])
  const optArgs = o.variant % 3 === 1 ? ['optimize', '-', outName] : ['optimize', ...(o.variant % 7 === 2 ? ['--spool'] : []), inName, outName]
  const opt = await run(optArgs, optArgs[1] === '-' ? o.input : undefined)
  if (o.reference) await run(['compare', inName, o.reference])

  // verify --data and optimize judge the same archive: they must agree.
  if (verify.status === 0 && (opt.status === 1 || opt.status === 2)) {
    failures.push(`verify --data accepts the archive but optimize refuses it: ${opt.stderr.trim().split('\n').pop()}`)
  }
  if (verify.status === 1 && opt.status === 0) failures.push('verify --data refuses the archive but optimize writes one')

  // Nothing outside the targets, no temp, spool or partial file left.
  const allowed = new Set([inName, 'tmp/', 'unpacked/', outName, '.rss'])
  for (const p of listTree(o.dir)) {
    if (p.startsWith('unpacked/')) {
      if (p.slice(9).includes('/') || p.endsWith('.partial') || p.endsWith('.tmp')) failures.push(`unpack left ${p}`)
      continue
    }
    if (!allowed.has(p) && !(o.reference && p === o.reference)) failures.push(`a file outside the targets: ${p}`)
  }
  const leftInTmp = listTree(join(o.dir, 'tmp'))
  if (leftInTmp.length) failures.push(`left in TMPDIR: ${leftInTmp.join(', ')}`)
  if (existsSync(join(o.dir, 'unpacked')) && unpack.status !== 0) failures.push('unpack failed but left its directory')

  // A written archive must be one Proxmox restores, with the same disks our unpack wrote.
  if (opt.status === 0 && existsSync(join(o.dir, outName))) {
    if (o.vma.ok) {
      const v = proxmoxReads(o.vma.path, join(o.dir, outName), join(o.dir, 'tmp'))
      failures.push(...v.problems.map(p => `Proxmox's vma on the optimize output: ${p}`))
      if (v.extracted && unpack.status === 0) {
        for (const [name, sum] of Object.entries(v.extracted.devices)) {
          const ours = join(o.dir, 'unpacked', `disk-${name}.raw`)
          if (name !== 'vmstate' && existsSync(ours) && !sameDisk(ours, sum, v.extracted.sizes[name]!))
            failures.push(`device ${name}: Proxmox extracts from the output other bytes than vma-opt unpacks from the input`)
        }
      }
      const list = await runCli(o, ['info', '--list', outName])
      if (list.status !== 0) failures.push(`info --list on the output: exit ${list.status}`)
      else if (v.list !== undefined && v.list !== list.stdout) failures.push(`info --list prints ${JSON.stringify(list.stdout)}, Proxmox's vma list ${JSON.stringify(v.list)}`)
      rmSync(join(o.dir, 'tmp'), { recursive: true, force: true })
      mkdirSync(join(o.dir, 'tmp'))
    }
    if (statSync(join(o.dir, outName)).size === 0) failures.push('optimize wrote an empty file')
  } else if (opt.status === 0) failures.push('optimize succeeded but wrote nothing')
  return { results, failures }
}
