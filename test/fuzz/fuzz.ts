// npm run fuzz -- --seconds N [--seed S] [--targets archive,delta,nbd] [--replay DIR|FILE] [--out DIR]
//
// Three targets share the time, half to archives and a quarter to each other:
// * archive: mutates the shared fixtures and archives vma-opt writes, runs
//   verify --data, info, unpack, optimize and compare of the built CLI on
//   each as child processes, and judges every result (run-case.ts);
// * delta: mutates deltas made by diff and runs apply, verify --base and
//   serve BASE DELTA with reads through every export (delta-case.ts);
// * nbd: hostile clients against a running serve, then a well-behaved one
//   (nbd-case.ts).
// Case k of target T and seed S is always the same. A failing case is saved
// in fuzz-failures/S-k/ (archive) or S-T-k/ (input + case.json) and can be
// replayed. Exit 0 when every case was clean, 1 otherwise, 2 on bad arguments.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { proxmoxVma } from '../proxmox-vma.js'
import { buildCorpus, buildDeltaCorpus, compress, type DeltaSeed, type Packing, type Seed } from './corpus.js'
import { extentOffsets, mutateCompressed, mutatePlain, rng } from './mutate.js'
import { runCase, type CaseResult } from './run-case.js'
import { runDeltaCase } from './delta-case.js'
import { runNbdCase, type NbdTarget } from './nbd-case.js'

type Target = 'archive' | 'delta' | 'nbd'
/** Each target's share of the time. */
const SHARES: Record<Target, number> = { archive: 0.5, delta: 0.25, nbd: 0.25 }

interface Args {
  seconds: number
  seed: number
  replay?: string
  out: string
  timeoutMs: number
  maxRssMb: number
  cases: number
  quiet: boolean
  targets: Target[]
}

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir)
  return dir
}

function parseArgs(argv: string[]): Args {
  const a: Args = { seconds: 60, seed: Date.now() % 2 ** 31, out: 'fuzz-failures', timeoutMs: 60_000, maxRssMb: 200, cases: Infinity, quiet: false, targets: ['archive', 'delta', 'nbd'] }
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!
    const v = () => {
      const x = argv[++i]
      if (x === undefined) usage(`${k} needs a value`)
      return x!
    }
    const n = (x: string) => {
      const y = Number(x)
      if (!Number.isInteger(y) || y < 0) usage(`${k} takes a whole number, got ${x}`)
      return y
    }
    if (k === '--seconds') a.seconds = n(v())
    else if (k === '--seed') a.seed = n(v())
    else if (k === '--replay') a.replay = v()
    else if (k === '--out') a.out = v()
    else if (k === '--timeout') a.timeoutMs = n(v()) * 1000
    else if (k === '--max-rss-mb') a.maxRssMb = n(v())
    else if (k === '--cases') a.cases = n(v())
    else if (k === '-q' || k === '--quiet') a.quiet = true
    else if (k === '--targets') {
      const ts = v().split(',')
      for (const x of ts) if (!(x in SHARES)) usage(`unknown target ${x} (archive, delta, nbd)`)
      a.targets = [...new Set(ts)] as Target[]
    } else usage(`unknown argument ${k}`)
  }
  return a
}

function usage(why: string): never {
  process.stderr.write(
    `fuzz: ${why}\nusage: npm run fuzz -- [--seconds N] [--seed S] [--targets archive,delta,nbd] [--cases N] [--out DIR] [--timeout S] [--max-rss-mb M] [-q]\n       npm run fuzz -- --replay fuzz-failures/S-K\n`,
  )
  process.exit(2)
}

interface Case<S = Seed> {
  index: number
  seed: S
  what: string[]
  bytes: Buffer
  variant: number
}

/** Case `k` of `seed`: which archive, which mutations, how it is packed. */
function makeCase(seed: number, k: number, corpus: Seed[]): Case {
  const r = rng((seed * 2654435761 + k * 40503 + 1) >>> 0)
  // Small archives make fast cases: pick them three times as often.
  const weights = corpus.map(s => (s.plain.length < 1.5e6 ? 3 : 1))
  let x = r() * weights.reduce((a, b) => a + b, 0)
  let s = corpus[0]!
  for (let i = 0; i < corpus.length; i++)
    if ((x -= weights[i]!) < 0) {
      s = corpus[i]!
      break
    }
  const donor = corpus[Math.floor(r() * corpus.length)]!.plain
  const variant = Math.floor(r() * 420)
  const roll = r()
  if (roll < 0.04) return { index: k, seed: s, what: ['unchanged'], bytes: s.bytes, variant }
  if (s.packing !== 'none' && roll < 0.45) {
    const m = mutateCompressed(s.bytes, r)
    return { index: k, seed: s, what: m.what, bytes: m.bytes, variant }
  }
  const m = mutatePlain(s.plain, donor, r)
  let packing: Packing = s.packing
  if (packing === 'none' && r() < 0.2) packing = (['zst', 'gz', 'lzo'] as const)[Math.floor(r() * 3)]!
  const bytes = packing === 'none' ? m.bytes : compress(m.bytes, packing)
  return { index: k, seed: s, what: packing === 'none' ? m.what : [...m.what, `then ${packing}`], bytes, variant }
}

async function runOne(root: string, work: string, a: Args, input: Buffer, variant: number, reference: string | undefined): Promise<CaseResult> {
  const dir = mkdtempSync(join(work, 'case-'))
  try {
    const path = join(dir, 'in.vma')
    writeFileSync(path, input)
    return await runCase({ bin: join(root, 'bin', 'vma-opt'), dir, input: path, reference, timeoutMs: a.timeoutMs, maxRssKb: a.maxRssMb * 1024, vma: proxmoxVma(), variant })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function save(a: Args, c: Case, res: CaseResult): string {
  const dir = resolve(a.out, `${a.seed}-${c.index}`)
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'input.vma'), c.bytes)
  const info = {
    seed: a.seed,
    index: c.index,
    from: c.seed.name,
    mutations: c.what,
    variant: c.variant,
    failures: res.failures,
    commands: res.results.map(r => ({ args: r.args, status: r.status, signal: r.signal, timedOut: r.timedOut, rssKb: r.rssKb, ms: r.ms, stderr: r.stderr.slice(0, 2000) })),
  }
  writeFileSync(join(dir, 'case.json'), JSON.stringify(info, null, 2) + '\n')
  return dir
}

interface Corpora {
  archives: Seed[]
  deltas: DeltaSeed[]
  nbd: NbdTarget[]
}

function buildCorpora(root: string, work: string, targets: Target[], quiet = false): Corpora {
  const bin = join(root, 'bin', 'vma-opt')
  const vma = proxmoxVma()
  if (!vma.ok && !quiet) process.stderr.write(`fuzz: WARNING: outputs are not checked by Proxmox's vma: ${vma.reason}\n`)
  const shared = process.env.VMA_FIXTURES ?? resolve(root, '..', 'shared', 'fixtures')
  let archives: Seed[] = []
  if (targets.includes('archive')) {
    if (!existsSync(join(shared, 'expected.json'))) process.stderr.write(`fuzz: WARNING: ${shared} not found: only archives vma-opt writes are fuzzed\n`)
    archives = buildCorpus(join(work, 'corpus'), bin, shared, vma)
  }
  const deltas = targets.includes('delta') || targets.includes('nbd') ? buildDeltaCorpus(join(work, 'deltas'), bin, vma) : []
  const d = deltas[0]
  // The plain archive, and a delta chain (each cluster from the newest link).
  const nbd: NbdTarget[] = d
    ? [
        { args: [d.base], disks: d.baseDisks },
        { args: [d.base, d.deltaPath], disks: d.disks },
      ]
    : []
  return { archives, deltas, nbd }
}

type DeltaCase = Case<DeltaSeed>

/** Case `k` of the delta target: which delta, which damage. */
function makeDeltaCase(seed: number, k: number, deltas: DeltaSeed[]): DeltaCase {
  const r = rng((seed * 2654435761 + k * 40503 + 0x44454c54) >>> 0)
  const s = deltas[Math.floor(r() * deltas.length)]!
  const variant = Math.floor(r() * 420)
  if (r() < 0.04) return { index: k, seed: s, what: ['unchanged'], bytes: s.delta, variant }
  if (!s.name.endsWith('.zst') && r() < 0.3) {
    // What a bad disk sector does: bits flipped in the data of a cluster, every header intact.
    const b = Buffer.from(s.delta)
    const ext = extentOffsets(b)
    const spots: number[] = []
    for (let i = 1 + Math.floor(r() * 3); i > 0 && ext.length; i--) {
      const off = ext[Math.floor(r() * ext.length)]!
      const end = Math.min(b.length, ext.find(e => e > off) ?? b.length)
      if (end <= off + 512) continue
      const at = off + 512 + Math.floor(r() * (end - off - 512))
      b[at] = b[at]! ^ (1 << Math.floor(r() * 8))
      spots.push(at)
    }
    return { index: k, seed: s, what: [`flipped data bits at ${spots.join(',')}`], bytes: b, variant }
  }
  const m = s.name.endsWith('.zst') ? mutateCompressed(s.delta, r) : mutatePlain(s.delta, deltas[Math.floor(r() * deltas.length)]!.delta, r)
  return { index: k, seed: s, what: m.what, bytes: m.bytes, variant }
}

async function runDelta(root: string, work: string, a: Args, c: DeltaCase): Promise<CaseResult> {
  const dir = mkdtempSync(join(work, 'case-'))
  try {
    const input = join(dir, c.seed.name.endsWith('.zst') ? 'in.vma-delta.zst' : 'in.vma-delta')
    writeFileSync(input, c.bytes)
    return await runDeltaCase({ bin: join(root, 'bin', 'vma-opt'), dir, seed: c.seed, input, timeoutMs: a.timeoutMs, maxRssKb: a.maxRssMb * 1024, variant: c.variant })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function runNbd(root: string, work: string, a: Args, targets: NbdTarget[], seed: number, k: number): Promise<CaseResult & { sessions: string[]; target: string }> {
  const dir = mkdtempSync(join(work, 'case-'))
  const target = targets[k % targets.length]!
  try {
    const res = await runNbdCase({ bin: join(root, 'bin', 'vma-opt'), dir, target, seed, index: k, timeoutMs: a.timeoutMs })
    return { ...res, target: target.args.map(x => x.split('/').pop()).join(' ') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function saveCase(a: Args, name: string, info: object, input?: [string, Buffer]): string {
  const dir = resolve(a.out, name)
  mkdirSync(dir, { recursive: true })
  if (input) writeFileSync(join(dir, input[0]), input[1])
  writeFileSync(join(dir, 'case.json'), JSON.stringify(info, null, 2) + '\n')
  return dir
}

const commandsOf = (res: CaseResult) => res.results.map(r => ({ args: r.args, status: r.status, signal: r.signal, timedOut: r.timedOut, rssKb: r.rssKb, ms: r.ms, stderr: r.stderr.slice(0, 2000) }))

function printResult(res: CaseResult): void {
  for (const r of res.results)
    process.stdout.write(
      `  vma-opt ${r.args.join(' ')}: exit ${r.status}${r.signal ? ` (${r.signal})` : ''}, ${Math.round(r.rssKb / 1024)} MB, ${r.ms} ms${r.stderr ? `\n    ${r.stderr.trim().split('\n').slice(0, 20).join('\n    ')}` : ''}\n`,
    )
  process.stdout.write(res.failures.length ? `FAIL:\n  ${res.failures.join('\n  ')}\n` : 'clean\n')
}

async function replay(root: string, work: string, a: Args): Promise<number> {
  const p = a.replay!
  const dir = existsSync(p) && statSync(p).isDirectory() ? p : dirname(p)
  const caseFile = join(dir, 'case.json')
  const info = existsSync(caseFile)
    ? (JSON.parse(readFileSync(caseFile, 'utf8')) as { target?: Target; variant: number; seed: number; index: number; from: string; failures: string[] })
    : { variant: 0, seed: 0, index: 0, from: '', failures: [] }
  const target = info.target ?? 'archive'
  process.stdout.write(`replaying ${p} (${target}, variant ${info.variant})\n`)
  let res: CaseResult
  if (target === 'archive') {
    const input = readFileSync(statSync(p).isDirectory() ? join(p, 'input.vma') : p)
    res = await runOne(root, work, a, input, info.variant, undefined)
  } else {
    const corpora = buildCorpora(root, work, [target], true)
    if (target === 'delta') {
      const seed = corpora.deltas.find(d => d.name === info.from)
      if (!seed) throw new Error(`no delta named ${info.from} in the corpus`)
      const name = readdirSync(dir).find(f => f.startsWith('input.'))!
      res = await runDelta(root, work, a, { index: info.index, seed, what: [], bytes: readFileSync(join(dir, name)), variant: info.variant })
    } else {
      const n = await runNbd(root, work, a, corpora.nbd, info.seed, info.index)
      process.stdout.write(`  sessions:\n    ${n.sessions.join('\n    ')}\n`)
      res = n
    }
  }
  printResult(res)
  return res.failures.length ? 1 : 0
}

async function main(): Promise<number> {
  const a = parseArgs(process.argv.slice(2))
  const root = findRoot()
  const work = mkdtempSync(join(process.env.VMA_FUZZ_WORK ?? tmpdir(), 'vma-opt-fuzz-'))
  try {
    if (a.replay) return await replay(root, work, a)
    const { archives: corpus, deltas, nbd } = buildCorpora(root, work, a.targets)
    const targets = a.targets.filter(t => (t === 'archive' ? corpus.length : t === 'delta' ? deltas.length : nbd.length) > 0)
    const t0 = Date.now()
    let failed = 0
    let total = 0
    const spent: Record<Target, number> = { archive: 0, delta: 0, nbd: 0 }
    const count: Record<Target, number> = { archive: 0, delta: 0, nbd: 0 }
    process.stdout.write(`fuzz: seed ${a.seed}, ${a.seconds} s, targets ${targets.join(', ')}; ${corpus.length} archives (${corpus.map(s => s.name).join(', ')}), ${deltas.length} deltas\n`)
    for (; total < a.cases && Date.now() - t0 < a.seconds * 1000; total++) {
      // The target furthest behind its share of the time goes next.
      const target = targets.reduce((best, t) => (spent[t] / SHARES[t] < spent[best] / SHARES[best] ? t : best))
      const k = count[target]++
      const t1 = Date.now()
      let label: string
      let res: CaseResult
      let where: () => string
      if (target === 'archive') {
        const c = makeCase(a.seed, k, corpus)
        res = await runOne(root, work, a, c.bytes, c.variant, c.seed.plainPath)
        label = `case ${k} (${c.seed.name}: ${c.what.join('; ')})`
        where = () => save(a, c, res)
      } else if (target === 'delta') {
        const c = makeDeltaCase(a.seed, k, deltas)
        res = await runDelta(root, work, a, c)
        label = `delta case ${k} (${c.seed.name}: ${c.what.join('; ')})`
        where = () =>
          saveCase(a, `${a.seed}-delta-${k}`, { target, seed: a.seed, index: k, from: c.seed.name, mutations: c.what, variant: c.variant, failures: res.failures, commands: commandsOf(res) }, [
            c.seed.name.endsWith('.zst') ? 'input.vma-delta.zst' : 'input.vma-delta',
            c.bytes,
          ])
      } else {
        const n = await runNbd(root, work, a, nbd, a.seed, k)
        res = n
        label = `nbd case ${k} (serve ${n.target}: ${n.sessions.join(' | ')})`
        where = () => saveCase(a, `${a.seed}-nbd-${k}`, { target, seed: a.seed, index: k, variant: 0, served: n.target, sessions: n.sessions, failures: n.failures, commands: commandsOf(n) })
      }
      spent[target] += Date.now() - t1
      if (res.failures.length) {
        failed++
        const dir = where()
        process.stdout.write(`FAIL ${label}: ${res.failures.join(' | ')}\n  saved in ${dir}; replay: npm run fuzz -- --replay ${dir}\n`)
      } else if (!a.quiet && total % 10 === 0) {
        process.stdout.write(`  ${total + 1} cases, ${failed} failing, ${Math.round((Date.now() - t0) / 1000)} s\n`)
      }
    }
    const secs = Math.round((Date.now() - t0) / 1000)
    const per = targets.map(t => `${t} ${count[t]}`).join(', ')
    process.stdout.write(`fuzz: ${total} cases (${per}) in ${secs} s (seed ${a.seed}): ${failed === 0 ? 'all clean' : `${failed} failing, saved in ${resolve(a.out)}`}\n`)
    return failed ? 1 : 0
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

main().then(
  code => process.exit(code),
  e => {
    process.stderr.write(`fuzz: ${(e as Error).stack ?? e}\n`)
    process.exit(3)
  },
)
