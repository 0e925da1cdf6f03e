// npm run fuzz -- --seconds N [--seed S] [--replay DIR|FILE] [--out DIR]
//
// Mutates the shared fixtures and archives vma-opt writes, runs verify
// --data, info, unpack, optimize and compare of the built CLI on each as
// child processes, and judges every result (run-case.ts). Case k of seed S
// is always the same mutation of the same corpus archive. A failing case is
// saved in fuzz-failures/S-k/ (input + case.json) and can be replayed.
// Exit 0 when every case was clean, 1 otherwise, 2 on bad arguments.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { proxmoxVma } from '../proxmox-vma.js'
import { buildCorpus, compress, type Packing, type Seed } from './corpus.js'
import { mutateCompressed, mutatePlain, rng } from './mutate.js'
import { runCase, type CaseResult } from './run-case.js'

interface Args {
  seconds: number
  seed: number
  replay?: string
  out: string
  timeoutMs: number
  maxRssMb: number
  cases: number
  quiet: boolean
}

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir)
  return dir
}

function parseArgs(argv: string[]): Args {
  const a: Args = { seconds: 60, seed: Date.now() % 2 ** 31, out: 'fuzz-failures', timeoutMs: 60_000, maxRssMb: 200, cases: Infinity, quiet: false }
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
    else usage(`unknown argument ${k}`)
  }
  return a
}

function usage(why: string): never {
  process.stderr.write(`fuzz: ${why}\nusage: npm run fuzz -- [--seconds N] [--seed S] [--cases N] [--out DIR] [--timeout S] [--max-rss-mb M] [-q]\n       npm run fuzz -- --replay fuzz-failures/S-K\n`)
  process.exit(2)
}

interface Case {
  index: number
  seed: Seed
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
  for (let i = 0; i < corpus.length; i++) if ((x -= weights[i]!) < 0) {
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

async function replay(root: string, work: string, a: Args): Promise<number> {
  const p = a.replay!
  const dir = existsSync(p) && statSync(p).isDirectory() ? p : dirname(p)
  const caseFile = join(dir, 'case.json')
  const info = existsSync(caseFile) ? (JSON.parse(readFileSync(caseFile, 'utf8')) as { variant: number; failures: string[] }) : { variant: 0, failures: [] }
  const input = readFileSync(statSync(p).isDirectory() ? join(p, 'input.vma') : p)
  process.stdout.write(`replaying ${p} (variant ${info.variant})\n`)
  const res = await runOne(root, work, a, input, info.variant, undefined)
  for (const r of res.results) process.stdout.write(`  vma-opt ${r.args.join(' ')}: exit ${r.status}${r.signal ? ` (${r.signal})` : ''}, ${Math.round(r.rssKb / 1024)} MB, ${r.ms} ms${r.stderr ? `\n    ${r.stderr.trim().split('\n').join('\n    ')}` : ''}\n`)
  process.stdout.write(res.failures.length ? `FAIL:\n  ${res.failures.join('\n  ')}\n` : 'clean\n')
  return res.failures.length ? 1 : 0
}

async function main(): Promise<number> {
  const a = parseArgs(process.argv.slice(2))
  const root = findRoot()
  const work = mkdtempSync(join(process.env.VMA_FUZZ_WORK ?? tmpdir(), 'vma-opt-fuzz-'))
  try {
    if (a.replay) return await replay(root, work, a)
    const vma = proxmoxVma()
    if (!vma.ok) process.stderr.write(`fuzz: WARNING: outputs are not checked by Proxmox's vma: ${vma.reason}\n`)
    const shared = process.env.VMA_FIXTURES ?? resolve(root, '..', 'shared', 'fixtures')
    if (!existsSync(join(shared, 'expected.json'))) process.stderr.write(`fuzz: WARNING: ${shared} not found: only archives vma-opt writes are fuzzed\n`)
    const corpus = buildCorpus(join(work, 'corpus'), join(root, 'bin', 'vma-opt'), shared, vma)
    const t0 = Date.now()
    let failed = 0
    let k = 0
    process.stdout.write(`fuzz: seed ${a.seed}, ${a.seconds} s, ${corpus.length} archives (${corpus.map(s => s.name).join(', ')})\n`)
    for (; k < a.cases && Date.now() - t0 < a.seconds * 1000; k++) {
      const c = makeCase(a.seed, k, corpus)
      const res = await runOne(root, work, a, c.bytes, c.variant, c.seed.plainPath)
      if (res.failures.length) {
        failed++
        const where = save(a, c, res)
        process.stdout.write(`FAIL case ${k} (${c.seed.name}: ${c.what.join('; ')}): ${res.failures.join(' | ')}\n  saved in ${where}; replay: npm run fuzz -- --replay ${where}\n`)
      } else if (!a.quiet && k % 10 === 0) {
        process.stdout.write(`  ${k + 1} cases, ${failed} failing, ${Math.round((Date.now() - t0) / 1000)} s\n`)
      }
    }
    const secs = Math.round((Date.now() - t0) / 1000)
    process.stdout.write(`fuzz: ${k} cases in ${secs} s (seed ${a.seed}): ${failed === 0 ? 'all clean' : `${failed} failing, saved in ${resolve(a.out)}`}\n`)
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
