// The damaged-delta target: a delta made by `diff`, mutated, then run
// through `apply`, `verify --base` and `serve BASE DELTA` (every export read
// through a raw NBD client). Every outcome is a clean one-line error with a
// documented exit code, or exactly what a correct apply gives: apply's
// output byte for byte `optimize NEW`, serve's exports NEW's disks, every
// read either EIO or NEW's bytes. apply and verify --base agree; nothing
// crashes, hangs, or leaves a file behind.

import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { DeltaSeed } from './corpus.js'
import { rng, type Rng } from './mutate.js'
import { RawNbd, type ReadResult } from './nbd-client.js'
import { judge, listTree, runCli, type CaseResult, type CommandResult } from './run-case.js'
import { judgeServe, startServe } from './serve-child.js'

export interface DeltaCaseOptions {
  bin: string
  /** A fresh directory for this case; removed by the caller. */
  dir: string
  seed: DeltaSeed
  /** The mutated delta (inside `dir`). */
  input: string
  timeoutMs: number
  maxRssKb: number
  variant: number
}

/** Settles with `p`, or rejects after `ms`: a read that never comes back is a hang. */
export function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([p.finally(() => clearTimeout(timer)), new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms: ${what}`)), ms)))])
}

/** Export names from serve's start-up lines, in order. */
export function exportNames(stdout: string): string[] {
  return [...stdout.matchAll(/nbd\+unix:\/\/\/([^?\s]*)\?socket=/g)].map(m => decodeURIComponent(m[1]!))
}

/**
 * Reads every export through fresh clients, in random pieces: each read is
 * EIO or the expected bytes. Returns the problems and how many reads failed.
 */
export async function readExports(sock: string, disks: readonly { name: string; data: Buffer }[], r: Rng, timeoutMs: number): Promise<{ problems: string[]; eio: number }> {
  const problems: string[] = []
  let eio = 0
  for (const d of disks) {
    const structured = r() < 0.6
    let c: RawNbd | undefined
    try {
      const [client, size] = await deadline(RawNbd.open(sock, d.name, structured), timeoutMs, `GO ${d.name}`)
      c = client
      if (size !== d.data.length) {
        problems.push(`serve: export ${d.name} has ${size} bytes, the disk ${d.data.length}`)
        continue
      }
      let cookie = 1
      for (let at = 0; at < size; ) {
        const len = Math.min(size - at, r() < 0.3 ? 1 + Math.floor(r() * 8192) : r() < 0.8 ? 65536 * (1 + Math.floor(r() * 8)) : (1 << 20) + Math.floor(r() * 65536))
        const df = structured && r() < 0.2 ? 4 : 0
        const res: ReadResult = await deadline(client.read(at, len, cookie++, df), timeoutMs, `a read of ${len} bytes at ${at} of ${d.name}`)
        if (res.error === 0 && res.data) {
          if (!res.data.equals(d.data.subarray(at, at + len))) {
            let k = 0
            while (res.data[k] === d.data[at + k]) k++
            problems.push(`serve: ${d.name}: WRONG DATA served at byte ${at + k} (a read of ${len} bytes at ${at}${structured ? ', structured' : ''})`)
            break
          }
        } else if (res.error === 5) eio++
        else problems.push(`serve: ${d.name}: a read of ${len} bytes at ${at} failed with error ${res.error}, not EIO`)
        at += len
      }
    } catch (e) {
      problems.push(`serve: ${d.name}: ${(e as Error).message}`)
    } finally {
      c?.sock.destroy()
    }
  }
  return { problems, eio }
}

export async function runDeltaCase(o: DeltaCaseOptions): Promise<CaseResult> {
  mkdirSync(join(o.dir, 'tmp'), { recursive: true })
  const r = rng((o.variant * 2246822519 + 7) >>> 0)
  const inName = o.input.slice(o.dir.length + 1)
  const results: CommandResult[] = []
  const failures: string[] = []
  const run = async (args: string[]) => {
    const res = await runCli(o, args)
    results.push(res)
    failures.push(...judge(res, o))
    return res
  }

  const apply = await run(['apply', o.seed.base, inName, 'out.vma'])
  const out = join(o.dir, 'out.vma')
  if (apply.status === 0) {
    if (!existsSync(out)) failures.push('apply succeeded but wrote nothing')
    else if (!readFileSync(out).equals(o.seed.reference)) failures.push('apply succeeded with an archive that is not what optimize makes of NEW')
  } else if (existsSync(out)) failures.push(`apply failed (exit ${apply.status}) but left out.vma`)

  const verify = await run(['verify', '--base', o.seed.base, inName])
  if ((verify.status === 0) !== (apply.status === 0) && [0, 1].includes(verify.status ?? -1) && [0, 1].includes(apply.status ?? -1)) {
    failures.push(`verify --base exits ${verify.status} but apply ${apply.status}: ${(verify.status ? verify : apply).stderr.trim().split('\n').pop()}`)
  }

  const sock = join(o.dir, 's.sock')
  const srv = await startServe(o.bin, o.dir, [o.seed.base, inName, '--socket', sock, '--idle-timeout', '30'], o.timeoutMs)
  let eioSeen = false
  if (srv.listening) {
    const names = exportNames(srv.stdout())
    const want = o.seed.disks.map(d => d.name).sort()
    if ([...names].sort().join() !== want.join()) failures.push(`serve exports ${JSON.stringify(names)}, NEW has ${JSON.stringify(want)}`)
    const { problems, eio } = await readExports(sock, o.seed.disks, r, Math.min(o.timeoutMs, 20_000))
    failures.push(...problems)
    if (eio > 0 && apply.status === 0) failures.push(`serve failed ${eio} reads with EIO of a delta that apply accepts`)
    eioSeen = eio > 0
  }
  const stopped = await srv.stop()
  // Judged once the server has ended: its log line and the client's reply travel on different pipes (a race otherwise, seed 20261206 case 47).
  if (eioSeen && !/failed with EIO/.test(stopped.stderr)) failures.push('serve answered EIO without saying why on stderr')
  results.push(stopped)
  failures.push(...judgeServe(stopped, srv.listening, o.maxRssKb, x => judge(x, o)))
  if (existsSync(sock)) failures.push('serve left its socket behind')

  // Nothing outside the targets, no temp or spool file left.
  const allowed = new Set([inName, 'tmp/', 'out.vma', '.rss'])
  for (const p of listTree(o.dir)) if (!allowed.has(p)) failures.push(`a file outside the targets: ${p}`)
  const leftInTmp = listTree(join(o.dir, 'tmp'))
  if (leftInTmp.length) failures.push(`left in TMPDIR: ${leftInTmp.join(', ')}`)
  return { results, failures }
}
