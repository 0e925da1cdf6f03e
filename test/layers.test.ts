// The tree shows the architecture (ARCHITECTURE.md): every import in src/
// points to a lower layer or stays inside its own folder. This test reads
// the imports and fails on one that points up or sideways.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, posix } from 'node:path'
import t from 'tap'

/** Layers, bottom first. Folders on one line share a rank and may not import each other. */
const LAYERS: string[][] = [
  ['util'],
  ['format'],
  ['input', 'output'],
  ['check'],
  ['archive'],
  ['trim'],
  ['share'],
  ['optimize', 'unpack', 'pack', 'compare', 'delta', 'serve'],
  ['hook'],
  ['cli'],
  ['sample'],
]
const rank = new Map<string, number>()
LAYERS.forEach((names, i) => names.forEach(n => rank.set(n, i)))

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e)
    if (statSync(p).isDirectory()) walk(p, out)
    else if (p.endsWith('.ts')) out.push(p)
  }
  return out
}

const folderOf = (file: string): string => file.split('/')[1]!

t.test('src/ holds only layer folders and index.ts', async t => {
  for (const e of readdirSync('src')) {
    if (e === 'index.ts') continue
    t.ok(statSync(join('src', e)).isDirectory() && rank.has(e), `src/${e} is a known layer folder`)
  }
})

t.test('imports point down the layers', async t => {
  const wrong: string[] = []
  for (const file of walk('src')) {
    if (file === join('src', 'index.ts')) continue
    const from = folderOf(file)
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(/(?:from\s+|import\(\s*)'(\.{1,2}\/[^']+)'/g)) {
      const target = posix.normalize(posix.join(posix.dirname(file), m[1]!))
      const to = folderOf(target)
      if (to === from) continue
      const a = rank.get(from), b = rank.get(to)
      if (a === undefined || b === undefined || b >= a) wrong.push(`${file} imports ${target} (${from} -> ${to})`)
    }
  }
  t.same(wrong, [], 'no import points up or sideways')
})
