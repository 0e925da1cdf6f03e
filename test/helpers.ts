import { existsSync, readFileSync } from 'node:fs'
import { PassThrough, Readable } from 'node:stream'
import { runCli } from '../src/cli/main.js'
import { createHash } from 'node:crypto'
import { join, resolve } from 'node:path'
import { VmaParser } from '../src/format/vma-parser.js'
import type { VmaHeader } from '../src/format/header.js'
import type { ClusterEntry, VmaSink } from '../src/format/vma-sink.js'
import { ROOT } from './tools.js'

export { ROOT }
export const BIN = join(ROOT, 'bin', 'vma-opt')

/** ../shared/fixtures, or VMA_FIXTURES. Without them those tests skip, saying why; .ci/run warns. */
export const SHARED = process.env.VMA_FIXTURES ?? resolve(ROOT, '..', 'shared', 'fixtures')
export const haveShared = existsSync(join(SHARED, 'expected.json'))

export interface ExpectedArchive {
  uuid: string
  ctime: number
  header_size: number
  file_size: number
  extents: number
  devices: Record<string, { dev_id: number; size: number; sha256: string; clusters: number; nonzero_blocks: number }>
  configs: Record<string, { size: number; sha256: string }>
  vma_list: string
  cluster_order: [number, number][]
  same_as?: string
}

export function expected(): Record<string, ExpectedArchive> {
  const all = JSON.parse(readFileSync(join(SHARED, 'expected.json'), 'utf8')) as Record<string, ExpectedArchive>
  for (const [k, v] of Object.entries(all)) if (v.same_as) all[k] = { ...all[v.same_as]!, same_as: v.same_as }
  return all
}

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

/** Everything a parse saw, with device contents rebuilt from the data events. */
export interface Parsed {
  header: VmaHeader
  order: [number, number][]
  contents: Map<number, Buffer>
  extents: number[]
  size: number
}

/** Parses `buf` fed in chunks of the sizes `chunkSize()` returns. */
export function parseBuffer(buf: Uint8Array, chunkSize: () => number = () => buf.length): Parsed {
  const out: Partial<Parsed> = { order: [], contents: new Map(), extents: [] }
  let cur: ClusterEntry | undefined
  let got = 0
  const sink: VmaSink = {
    header(h) {
      out.header = h
      for (const d of h.deviceList) out.contents!.set(d.id, Buffer.alloc(d.size))
    },
    extent(_e, off) {
      out.extents!.push(off)
    },
    cluster(e) {
      cur = { ...e }
      got = 0
      out.order!.push([e.devId, e.cluster])
    },
    data(chunk) {
      const dev = out.contents!.get(cur!.devId)!
      for (let i = 0; i < chunk.length; ) {
        const k = Math.floor(got / 4096)
        let j = -1
        for (let bit = 0, n = 0; bit < 16; bit++) if (cur!.mask & (1 << bit) && n++ === k) j = bit
        const within = got % 4096
        const take = Math.min(chunk.length - i, 4096 - within)
        const at = cur!.cluster * 65536 + j * 4096 + within
        // Bytes past the device end are dropped, as `vma extract` does.
        if (at < dev.length) Buffer.from(chunk.buffer, chunk.byteOffset + i, Math.min(take, dev.length - at)).copy(dev, at)
        i += take
        got += take
      }
    },
    end(size) {
      out.size = size
    },
  }
  const p = new VmaParser(sink)
  for (let pos = 0; pos < buf.length; ) {
    const n = Math.max(1, Math.min(chunkSize(), buf.length - pos))
    p.write(buf.subarray(pos, pos + n))
    pos += n
  }
  p.end()
  return out as Parsed
}

/** The environment for spawned CLIs: without tap's loaders, so they run as users run them. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra }
  delete env.NODE_OPTIONS
  for (const k of Object.keys(env)) if (k.startsWith('TAP')) delete env[k]
  return env
}

/**
 * The CLI in this process, its output captured: for cases that need no
 * process of their own (node is slow to start on this machine). `input` is
 * what a `-` argument reads as stdin; `bytes` is stdout unconverted; `env`
 * is set in process.env for the run only (variables the code reads when it
 * runs, such as VMA_OPT_ZSTD_DECODER). Cases that need a real process stay
 * spawned: signals, kills, locks held by two runs, a real pipe or terminal as
 * stdin, a changed PATH (tools are found once), the exit path of main().
 */
export async function cliInProcess(args: string[], o: { input?: Uint8Array; env?: Record<string, string> } = {}): Promise<{ status: number; stdout: string; stderr: string; bytes: Buffer }> {
  const out = new PassThrough()
  const err = new PassThrough()
  const chunks: Buffer[] = []
  let stderr = ''
  out.on('data', (c: Buffer) => chunks.push(c))
  err.on('data', c => (stderr += c))
  const saved = Object.entries(o.env ?? {}).map(([k, v]) => {
    const before = process.env[k]
    process.env[k] = v
    return [k, before] as const
  })
  try {
    const status = await runCli(args, { stdout: out, stderr: err, ...(o.input ? { stdin: Readable.from([o.input]) } : {}) })
    const bytes = Buffer.concat(chunks)
    return { status, stdout: bytes.toString(), stderr, bytes }
  } finally {
    for (const [k, before] of saved) {
      if (before === undefined) delete process.env[k]
      else process.env[k] = before
    }
  }
}
