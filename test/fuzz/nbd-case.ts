// The hostile-NBD-client target: `vma-opt serve` runs on a small archive
// (or a delta chain) while a few clients send it random and mutated
// handshakes and request streams: in odd chunks, slowly, never reading the
// replies, half-closing, flooding, or opening more connections than the
// server takes. Afterwards the server must still be running, serve every
// export correctly to a well-behaved client, have stayed under 150 MB, and
// stop cleanly on SIGTERM (exit 143, its socket removed, nothing left).
// A case is a pure function of (seed, index): replay regenerates it.

import { connect, type Socket } from 'node:net'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { rng, type Rng } from './mutate.js'
import { goData, optionBytes, requestBytes } from './nbd-client.js'
import { deadline, exportNames, readExports } from './delta-case.js'
import { judge, listTree, type CaseResult } from './run-case.js'
import { judgeServe, startServe } from './serve-child.js'

/** What the server must stay under, whatever the clients do (spec/cli.md). */
export const SERVE_MAX_RSS_KB = 150 * 1024

export interface NbdTarget {
  /** serve's arguments before --socket: an archive, or BASE DELTA. */
  args: string[]
  /** The exports and their content, in order. */
  disks: { name: string; data: Buffer }[]
}

export interface NbdCaseOptions {
  bin: string
  dir: string
  target: NbdTarget
  seed: number
  index: number
  timeoutMs: number
}

interface Session {
  kind: 'stream' | 'flood' | 'crowd'
  bytes: Buffer
  /** Sizes of the writes the bytes go out in, and the pause before each. */
  chunks: [number, number][]
  reads: 'all' | 'never' | 'slow'
  end: 'destroy' | 'half-close' | 'linger'
  what: string
}

const int = (r: Rng, n: number) => Math.floor(r() * n)
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[int(r, xs.length)]!
const u32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0, 0)
  return b
}

function metaData(name: string, queries: string[]): Buffer {
  const n = Buffer.from(name)
  return Buffer.concat([u32(n.length), n, u32(queries.length), ...queries.flatMap(q => [u32(Buffer.byteLength(q)), Buffer.from(q)])])
}

/** A plausible client conversation: flags, options, an export, requests. */
function conversation(r: Rng, disks: NbdTarget['disks']): Buffer {
  const parts: Buffer[] = [u32(r() < 0.9 ? pick(r, [3, 3, 1]) : int(r, 2 ** 32))]
  const name = () => (r() < 0.8 ? pick(r, disks).name : pick(r, ['', 'drive-nope', 'x'.repeat(5000), '\u00e9\0']))
  for (let i = int(r, 6); i > 0; i--) {
    const k = int(r, 10)
    if (k === 0) parts.push(optionBytes(8, Buffer.alloc(0)))
    else if (k === 1) parts.push(optionBytes(3, r() < 0.8 ? Buffer.alloc(0) : Buffer.alloc(int(r, 40), 1)))
    else if (k === 2) parts.push(optionBytes(6, goData(name())))
    else if (k === 3) parts.push(optionBytes(10, metaData(name(), ['base:allocation'])))
    else if (k === 4) parts.push(optionBytes(9, metaData(name(), r() < 0.5 ? [] : ['base:', 'qemu:dirty-bitmap:x'])))
    else if (k === 5) parts.push(optionBytes(int(r, 2 ** 32), Buffer.alloc(int(r, 100), 7)))
    else if (k === 6) parts.push(optionBytes(pick(r, [6, 7, 9, 10]), Buffer.from(Array.from({ length: int(r, 64) }, () => int(r, 256)))))
    else if (k === 7) parts.push(optionBytes(pick(r, [3, 7, 1]), Buffer.alloc(0), pick(r, [0xffffffff, 16385, 1 << 20])))
    else if (k === 8) parts.push(optionBytes(2, Buffer.alloc(0)))
    else parts.push(optionBytes(7, Buffer.concat([goData(name()).subarray(0, -2), u32(0x00010002)])))
  }
  const chosen = pick(r, disks)
  parts.push(r() < 0.85 ? optionBytes(7, goData(r() < 0.9 ? chosen.name : '')) : optionBytes(1, Buffer.from(chosen.name)))
  const size = chosen.data.length
  for (let i = int(r, 40), cookie = 1; i > 0; i--, cookie++) {
    const k = int(r, 100)
    const type = k < 50 ? 0 : k < 60 ? 7 : k < 68 ? 3 : k < 74 ? 1 : k < 78 ? 4 : k < 81 ? 6 : k < 84 ? 5 : k < 97 ? int(r, 65536) : 2
    const offset = pick(r, [int(r, size), Math.max(0, size - int(r, 70000)), 2 ** 63, int(r, 2 ** 32), 0])
    const length = pick(r, [1 + int(r, 65536), 1 + int(r, 65536), (256 << 10) * (1 + int(r, 8)) + int(r, 3), 32 << 20, (32 << 20) + 1, 0, int(r, 2 ** 32)])
    const flags = r() < 0.7 ? 0 : pick(r, [4, 8, 1, 2, 16, int(r, 65536)])
    const req = requestBytes(type, BigInt(offset), length, cookie, flags)
    if (type === 1) {
      // A write: its payload, or less than it claims (the stream then stays out of step).
      const payload = Math.min(length, r() < 0.8 ? length : int(r, 4096), 65536)
      parts.push(req, Buffer.alloc(payload, 0xab))
    } else parts.push(req)
  }
  return Buffer.concat(parts)
}

/** Blind damage on top: flips, cuts, insertions, repeats, lengths overwritten. */
function damage(b: Buffer, r: Rng): { bytes: Buffer; what: string[] } {
  let out = Buffer.from(b)
  const what: string[] = []
  for (let i = 1 + int(r, 3); i > 0 && out.length > 0; i--) {
    const k = int(r, 5)
    const at = int(r, out.length)
    if (k === 0) {
      out[at] = out[at]! ^ (1 << int(r, 8))
      what.push(`flipped a bit at ${at}`)
    } else if (k === 1) {
      out = out.subarray(0, at)
      what.push(`cut at ${at}`)
    } else if (k === 2) {
      const ins = Buffer.from(Array.from({ length: 1 + int(r, 64) }, () => int(r, 256)))
      out = Buffer.concat([out.subarray(0, at), ins, out.subarray(at)])
      what.push(`inserted ${ins.length} bytes at ${at}`)
    } else if (k === 3) {
      const len = Math.min(out.length - at, 1 + int(r, 200))
      out = Buffer.concat([out.subarray(0, at + len), out.subarray(at, at + len), out.subarray(at + len)])
      what.push(`repeated ${len} bytes at ${at}`)
    } else if (at + 4 <= out.length) {
      out.writeUInt32BE(pick(r, [0, 0xffffffff, 0x80000000, (32 << 20) + 1, 16385, 28]), at)
      what.push(`overwrote a u32 at ${at}`)
    }
  }
  return { bytes: out, what }
}

function chunking(r: Rng, n: number, slow: boolean): [number, number][] {
  const out: [number, number][] = []
  let budget = 1500
  for (let left = n; left > 0; ) {
    const size = Math.min(left, pick(r, [1, 3, 17, 28, 512, 4096, 65536, left]))
    const pause = slow && budget > 0 ? Math.min(budget, int(r, 60)) : r() < 0.05 ? int(r, 20) : 0
    budget -= pause
    out.push([size, pause])
    left -= size
  }
  return out
}

/** Case `index` of `seed`: a few sessions. */
export function makeSessions(seed: number, index: number, disks: NbdTarget['disks']): Session[] {
  const r = rng((seed * 2654435761 + index * 97 + 0x4e4244) >>> 0)
  const sessions: Session[] = []
  for (let i = 1 + int(r, 4); i > 0; i--) {
    const k = r()
    const reads = pick(r, ['all', 'all', 'never', 'slow'] as const)
    const end = pick(r, ['destroy', 'half-close', 'linger'] as const)
    if (k < 0.1) {
      sessions.push({ kind: 'crowd', bytes: Buffer.alloc(0), chunks: [], reads, end, what: 'more connections than the server takes' })
      continue
    }
    if (k < 0.25) {
      sessions.push({ kind: 'flood', bytes: conversation(r, disks).subarray(0, 0), chunks: [], reads: 'never', end, what: 'a flood of requests it never reads' })
      continue
    }
    const plain = conversation(r, disks)
    const { bytes, what } = r() < 0.5 ? damage(plain, r) : { bytes: plain, what: [] as string[] }
    const slow = r() < 0.2
    sessions.push({
      kind: 'stream',
      bytes,
      chunks: chunking(r, bytes.length, slow),
      reads,
      end,
      what: [`${bytes.length} bytes`, slow ? 'slowly' : '', `reads ${reads}`, `then ${end}`, ...what].filter(Boolean).join(', '),
    })
  }
  return sessions
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

function open(path: string): Promise<Socket> {
  return new Promise(resolve => {
    const s = connect(path)
    s.on('error', () => undefined)
    s.once('connect', () => resolve(s))
    s.once('close', () => resolve(s))
  })
}

/** Whether a new connection gets the server's greeting (it is not refused). */
async function greets(path: string): Promise<boolean> {
  const c = await open(path)
  const got = await deadline(
    new Promise<boolean>(r => {
      c.once('data', () => r(true))
      c.once('close', () => r(false))
    }),
    2000,
    'greeting',
  ).catch(() => false)
  c.destroy()
  return got
}

/** Plays one session; resolves with the sockets to destroy at the end of the case. */
async function play(path: string, s: Session, disks: NbdTarget['disks']): Promise<Socket[]> {
  if (s.kind === 'crowd') {
    const socks = await Promise.all(Array.from({ length: 70 }, () => open(path)))
    for (const c of socks) c.write(u32(3))
    await sleep(200)
    // Even lingering, 70 would keep the well-behaved client out: they go.
    for (const c of socks) c.destroy()
    return socks
  }
  const c = await open(path)
  if (c.destroyed) return [c]
  if (s.reads === 'all') c.resume()
  let flip: NodeJS.Timeout | undefined
  if (s.reads === 'slow') flip = setInterval(() => (c.isPaused() ? c.resume() : c.pause()), 50)
  if (s.kind === 'flood') {
    const d = disks[0]!
    c.write(Buffer.concat([u32(3), optionBytes(7, goData(d.name))]))
    const t0 = Date.now()
    for (let k = 0; k < 5000 && Date.now() - t0 < 1000 && !c.destroyed; k++) {
      const req = requestBytes(k % 3 === 0 ? 3 : 0, (k * 4096) % Math.max(1, d.data.length - (1 << 20)), k % 2 ? 1 << 20 : 4096, k)
      if (!c.write(req) && !(await deadline(new Promise(r => c.once('drain', r)), 100, 'drain').catch(() => false))) break
    }
  } else {
    let at = 0
    for (const [size, pause] of s.chunks) {
      if (c.destroyed) break
      if (pause) await sleep(pause)
      c.write(s.bytes.subarray(at, at + size))
      at += size
    }
  }
  if (s.end === 'half-close') {
    c.end()
    c.resume()
    await deadline(new Promise(r => c.once('close', r)), 1000, 'close').catch(() => undefined)
  } else if (s.end === 'destroy') {
    await sleep(50)
    c.destroy()
  }
  if (flip) clearInterval(flip)
  return [c]
}

export async function runNbdCase(o: NbdCaseOptions): Promise<CaseResult & { sessions: string[] }> {
  mkdirSync(join(o.dir, 'tmp'), { recursive: true })
  const sessions = makeSessions(o.seed, o.index, o.target.disks)
  const failures: string[] = []
  const sock = join(o.dir, 's.sock')
  const srv = await startServe(o.bin, o.dir, [...o.target.args, '--socket', sock, '--idle-timeout', '5'], o.timeoutMs)
  const leftOpen: Socket[] = []
  if (!srv.listening) failures.push(`serve did not start: ${srv.stderr().trim().split('\n').pop()}`)
  else {
    const names = exportNames(srv.stdout())
    if (
      [...names].sort().join() !==
      o.target.disks
        .map(d => d.name)
        .sort()
        .join()
    )
      failures.push(`serve exports ${JSON.stringify(names)}`)
    try {
      const played = await deadline(Promise.all(sessions.map(s => play(sock, s, o.target.disks))), 20_000, 'the hostile sessions')
      leftOpen.push(...played.flat())
    } catch (e) {
      failures.push(`the hostile clients: ${(e as Error).message}`)
    }
    // Lingering clients keep their connections; the server may take a moment to see the others go.
    for (let i = 0; i < 50 && !(await greets(sock)); i++) await sleep(100)
    if (!srv.alive()) failures.push('serve died while hostile clients were connected')
    else {
      const r = rng((o.seed + o.index * 31) >>> 0)
      const { problems, eio } = await readExports(sock, o.target.disks, r, 20_000)
      failures.push(...problems.map(p => `a well-behaved client afterwards: ${p}`))
      if (eio) failures.push(`a well-behaved client afterwards: ${eio} reads failed with EIO`)
    }
    if (srv.peakRssKb() > SERVE_MAX_RSS_KB) failures.push(`serve's peak RSS was ${Math.round(srv.peakRssKb() / 1024)} MB, over ${SERVE_MAX_RSS_KB / 1024} MB`)
  }
  for (const c of leftOpen) c.destroy()
  const stopped = await srv.stop()
  failures.push(...judgeServe(stopped, srv.listening, SERVE_MAX_RSS_KB, x => judge(x, { timeoutMs: o.timeoutMs, maxRssKb: SERVE_MAX_RSS_KB })))
  if (existsSync(sock)) failures.push('serve left its socket behind')
  const leftInTmp = listTree(join(o.dir, 'tmp'))
  if (leftInTmp.length) failures.push(`left in TMPDIR: ${leftInTmp.join(', ')}`)
  return { results: [stopped], failures, sessions: sessions.map(s => `${s.kind}: ${s.what}`) }
}
