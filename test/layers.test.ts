// The tree shows the architecture (ARCHITECTURE.md): every import in src/
// points to a lower layer or stays inside its own folder. The rules live in
// .dependency-cruiser.cjs and dependency-cruiser enforces them (npm run lint
// runs it too); it reads imports with the TypeScript parser, so no spelling
// of an import escapes it. This test runs it on src/, and on a small tree
// with the imports a regex missed (double quotes, a dynamic import, a
// type-only import, a folder that is no layer) to prove each is caught.
import { spawnSync } from 'node:child_process'
import { copyFileSync, readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import t from 'tap'
import { ROOT } from './helpers.js'

const CONFIG = join(ROOT, '.dependency-cruiser.cjs')
const DEPCRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs')

/** The layer folders, from the rule names of the configuration (layer-NAME). */
const rules = (createRequire(import.meta.url)(CONFIG) as { forbidden: { name: string }[] }).forbidden
const folders = rules.map(r => /^layer-(.+)$/.exec(r.name)?.[1]).filter((x): x is string => x !== undefined)

interface Violation {
  from: string
  to: string
  rule: { name: string }
}

function cruise(cwd: string): Violation[] {
  const r = spawnSync(process.execPath, [DEPCRUISE, '--config', CONFIG, '--output-type', 'json', 'src'], { cwd, encoding: 'utf8', maxBuffer: 256 << 20, timeout: 600_000 })
  if (r.status === null || !r.stdout) throw new Error(`depcruise did not run: ${r.error ?? r.stderr}`)
  return (JSON.parse(r.stdout) as { summary: { violations: Violation[] } }).summary.violations
}

t.test('src/ holds only layer folders and index.ts', async t => {
  t.ok(folders.length >= 10, `the configuration names the layers (${folders.join(', ')})`)
  for (const e of readdirSync(join(ROOT, 'src'))) {
    if (e === 'index.ts') continue
    t.ok(statSync(join(ROOT, 'src', e)).isDirectory() && folders.includes(e), `src/${e} is a known layer folder`)
  }
})

t.test('imports point down the layers (dependency-cruiser on src/)', async t => {
  t.same(
    cruise(ROOT).map(v => `${v.from} -> ${v.to} (${v.rule.name})`),
    [],
    'no import points up or sideways',
  )
})

t.test('every spelling of a wrong import is caught', async t => {
  const dir = t.testdir({
    src: {
      util: {
        'quoted.ts': 'import { main } from "../cli/main.js"\nexport const q = main\n',
        'types.ts': "import type { Index } from '../archive/index.js'\nexport type T = Index\n",
        'fine.ts': "import { q } from './quoted.js'\nexport const f = q\n",
      },
      format: { 'later.ts': "export const later = () => import('../check/scan.js')\n" },
      check: { 'scan.ts': "import { f } from '../util/fine.js'\nexport const scan = f\n", 'down.ts': "export { out } from '../output/out.js'\n" },
      archive: { 'index.ts': 'export interface Index { n: number }\n' },
      output: { 'out.ts': "import { input } from '../input/in.js'\nexport const out = input\n" },
      input: { 'in.ts': 'export const input = 1\n' },
      cli: { 'main.ts': "import { f } from '../util/fine.js'\nimport { x } from '../extra/x.js'\nexport const main = f + x\n" },
      extra: { 'x.ts': 'export const x = 1\n' },
    },
  })
  copyFileSync(join(ROOT, 'tsconfig.json'), join(dir, 'tsconfig.json'))
  const found = cruise(dir)
    .map(v => `${v.from} -> ${v.to} (${v.rule.name})`)
    .sort()
  t.same(
    found,
    [
      'src/cli/main.ts -> src/extra/x.ts (layer-cli)',
      'src/cli/main.ts -> src/extra/x.ts (no-unknown-folder)',
      'src/format/later.ts -> src/check/scan.ts (layer-format)',
      'src/output/out.ts -> src/input/in.ts (layer-output)',
      'src/util/quoted.ts -> src/cli/main.ts (layer-util)',
      'src/util/types.ts -> src/archive/index.ts (layer-util)',
    ],
    'up in double quotes, up through import(), up by a type, sideways within a rank, into a folder that is no layer; down and within a folder pass',
  )
})
