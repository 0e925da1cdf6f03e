// .ci/summary.mjs, the judge of a CI run: its "N passed, N failed, N
// skipped" line and exit status on small TAP logs, one of them written by tap
// itself from test files (plain .mjs: nothing to compile) that skip in every
// way tap offers (a skip option, a t.skip call, a nested skip, a file
// planning 0 tests), so that the summary is proven to count what tap really
// prints. A log whose tests all skipped is
// never green; under CI=true a skip is green only when .ci/allowed-skips
// (here a temporary file) lists it with a reason.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, cliEnv } from './helpers.js'

const SUMMARY = join(ROOT, '.ci', 'summary.mjs')
// The project's tap plugins: tap rebuilds its shared node_modules/@tapjs/test
// when a project asks for another set, under the feet of the test files
// running beside this one.
const { plugin } = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { tap: { plugin?: string[] } }).tap

function summary(dir: string, log: string, status: number, fuzz?: number, env: Record<string, string> = {}, checks: string[] = []) {
  const file = join(dir, `log-${Math.random().toString(36).slice(2)}.tap`)
  writeFileSync(file, log)
  const base = cliEnv(env)
  if (!('CI' in env)) delete base.CI
  const r = spawnSync(process.execPath, [SUMMARY, file, String(status), ...(fuzz === undefined ? [] : [String(fuzz)]), ...checks], { encoding: 'utf8', env: base })
  const out = r.stdout.trimEnd().split('\n')
  return { status: r.status, line: out[out.length - 1], out: r.stdout + r.stderr }
}

const allow = (dir: string, text: string) => {
  const file = join(dir, 'allowed-skips')
  writeFileSync(file, text)
  return { CI: 'true', VMA_OPT_ALLOWED_SKIPS: file }
}

t.test("tap's own output: every kind of skip is counted and named", async t => {
  const dir = t.testdir({
    'package.json': JSON.stringify({ name: 'x', type: 'module', tap: { 'disable-coverage': true, 'allow-incomplete-coverage': true, timeout: 600, include: ['test/**/*.test.mjs'], plugin } }),
    test: {
      'a.test.mjs': [
        "import t from 'tap'",
        "t.test('option', { skip: 'no tool X' }, async t => { t.pass('never') })",
        "t.test('runs', async t => { t.pass('one'); t.pass('two') })",
        "t.test('nested', async t => { t.test('inner', { skip: 'no inner tool' }, async () => {}); t.skip('by t.skip') })",
        '',
      ].join('\n'),
      'b.test.mjs': "import t from 'tap'\nt.plan(0, 'nothing here: no zstd')\n",
    },
  })
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  const env = cliEnv()
  delete env.CI
  const tap = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'tap', 'dist', 'esm', 'run.mjs'), '--reporter=tap'], { cwd: dir, encoding: 'utf8', env, timeout: 900_000 })
  t.equal(tap.status, 0, `tap ran: ${tap.stderr}`)
  t.match(tap.stdout, /^# \{ total: 6, pass: 2, skip: 4 \}$/m, "tap's closing line counts the skips")
  t.match(tap.stdout, /^ {4}ok 1 - option # SKIP no tool X$/m, 'a skipped subtest carries its reason')
  const plain = summary(dir, tap.stdout, 0)
  t.same([plain.status, plain.line], [0, '2 passed, 0 failed, 4 skipped'], 'without CI a skip is counted, not failed')
  for (const s of ['test/a.test.mjs: option: no tool X', 'test/a.test.mjs: nested > inner: no inner tool', 'test/a.test.mjs: nested > by t.skip', 'test/b.test.mjs: nothing here: no zstd'])
    t.match(plain.out, `# skipped: ${s}`, `names ${s}`)
  t.match(plain.out, /^# slowest: test\/a\.test\.mjs \d+ s$/m, 'and the slowest files (a skipped file has no time)')
  const ci = summary(dir, tap.stdout, 0, 0, { CI: 'true', VMA_OPT_ALLOWED_SKIPS: join(dir, 'none') })
  t.same([ci.status, ci.line], [1, '3 passed, 4 failed, 4 skipped'], 'with CI=true every unlisted skip fails the run')
  t.match(ci.out, '# FAIL: skip not allowed with CI=true: test/a.test.mjs: option: no tool X')
  const listed = allow(
    dir,
    [
      '# all of them',
      'test/a.test.mjs: no tool X -- X runs only on arm64',
      'test/a.test.mjs: inner -- why not',
      'test/a.test.mjs: by t.skip -- because',
      'test/b.test.mjs: no zstd -- zstd is optional',
      '',
    ].join('\n'),
  )
  const ok = summary(dir, tap.stdout, 0, 0, listed)
  t.same([ok.status, ok.line], [0, '3 passed, 0 failed, 4 skipped'], 'with every skip listed, green')
  const some = allow(dir, 'test/a.test.mjs: no tool X -- X runs only on arm64\n')
  t.same(summary(dir, tap.stdout, 0, 0, some).line, '3 passed, 3 failed, 4 skipped', 'the ones not listed still fail')
  const otherFile = allow(dir, 'test/b.test.mjs: no tool X -- listed for another file\ntest/a.test.mjs: inner -- a\ntest/a.test.mjs: by t.skip -- b\ntest/b.test.mjs: no zstd -- c\n')
  t.same(summary(dir, tap.stdout, 0, 0, otherFile).line, '3 passed, 1 failed, 4 skipped', 'a listing names the file')
})

// The lines below are the shape tap 21 writes (see the test above).
const allSkipped = `TAP version 14
1..2
# Subtest: test/a.test.ts
    ok 1 - needs zstd # SKIP needs zstd (Debian: zstd)
    1..1
ok 1 - test/a.test.ts # time=3ms

# Subtest: test/b.test.ts
    1..0 # no shared fixtures
ok 2 - test/b.test.ts # SKIP no shared fixtures

# { total: 2, pass: 0, skip: 2 }
`

const mixed = `TAP version 14
1..2
# Subtest: test/a.test.ts
    ok 1 - needs zstd # SKIP needs zstd (Debian: zstd)
    # Subtest: works
        ok 1 - should be equal
        1..1
    ok 2 - works # time=1ms
    1..2
ok 1 - test/a.test.ts # time=3ms

# Subtest: test/c.test.ts
    not ok 1 - should be equal
    1..1
not ok 2 - test/c.test.ts # time=3ms

# { total: 3, pass: 1, fail: 1, skip: 1 }
`

t.test('a run whose tests all skipped is never green', async t => {
  const dir = t.testdir()
  t.same([summary(dir, allSkipped, 0).status, summary(dir, allSkipped, 0).line], [1, '0 passed, 1 failed, 2 skipped'], 'without CI')
  const listed = allow(dir, 'test/a.test.ts: zstd -- a\ntest/b.test.ts: fixtures -- b\n')
  const r = summary(dir, allSkipped, 0, 0, listed)
  t.same([r.status, r.line], [1, '1 passed, 1 failed, 2 skipped'], 'even with every skip allowed and the fuzz run passing')
  t.match(r.out, '# FAIL: no test passed')
})

t.test('a skipped-but-allowed run is green; a failure or an unlisted skip is not', async t => {
  const dir = t.testdir()
  const passing = mixed
    .replace(/\n# Subtest: test\/c[\s\S]*?not ok 2 - test\/c.test.ts # time=3ms\n/, '')
    .replace('fail: 1, ', '')
    .replace('1..2\n# Subtest: test/a', '1..1\n# Subtest: test/a')
  const listed = allow(dir, 'test/a.test.ts: needs zstd -- zstd is optional here\n')
  t.same(summary(dir, passing, 0, 0, listed).line, '2 passed, 0 failed, 1 skipped', 'allowed skip: green')
  t.equal(summary(dir, passing, 0, 0, listed).status, 0)
  t.same(summary(dir, passing, 0, 0, { CI: 'true', VMA_OPT_ALLOWED_SKIPS: join(dir, 'missing') }).status, 1, 'the same skip unlisted: red')
  t.same(summary(dir, passing, 0, 1, listed).line, '1 passed, 1 failed, 1 skipped', 'the fuzz run failing: red')
  t.same(summary(dir, passing, 1, 0, listed).line, '2 passed, 1 failed, 1 skipped', 'tap exiting non-zero with no failure counted: red')
  const m = summary(dir, mixed, 1, 0, listed)
  t.same([m.status, m.line], [1, '2 passed, 1 failed, 1 skipped'], 'mixed run with a failure')
  const noWhy = allow(dir, 'test/a.test.ts: needs zstd\n')
  const r = summary(dir, passing, 0, 0, noWhy)
  t.same([r.status, r.line], [1, '2 passed, 2 failed, 1 skipped'], 'an allow-list line without its reason is refused (and allows nothing)')
  t.match(r.out, 'not FILE: TEXT -- WHY')
})

t.test('a log cut short (no closing line) is counted from its test points', async t => {
  const dir = t.testdir()
  const cut = mixed.replace(/# \{ total[^\n]*\n/, '')
  const r = summary(dir, cut, 1)
  t.same([r.status, r.line], [1, '3 passed, 2 failed, 1 skipped'], 'ok lines (not skips) pass, not ok lines fail')
})

t.test('the allow-list of this checkout is well formed and, on a machine .ci/run provisions, empty', async t => {
  const dir = t.testdir()
  const passing = 'TAP version 14\nok 1 - a\n1..1\n# { total: 1, pass: 1 }\n'
  const r = summary(dir, passing, 0, undefined, { CI: 'true' })
  t.same([r.status, r.line], [0, '1 passed, 0 failed, 0 skipped'])
  const entries = readFileSync(join(ROOT, '.ci', 'allowed-skips'), 'utf8')
    .split('\n')
    .filter(l => l.trim() && !l.startsWith('#'))
  t.same(entries, [], '.ci/allowed-skips lists nothing: .ci/run installs every tool')
})

t.test('the other checks of .ci/run (typecheck, lint) count one test each', async t => {
  const dir = t.testdir()
  const passing = 'TAP version 14\nok 1 - a\n1..1\n# { total: 1, pass: 1 }\n'
  t.same(summary(dir, passing, 0, 0, {}, ['typecheck=0', 'lint=0']).line, '4 passed, 0 failed, 0 skipped')
  const r = summary(dir, passing, 0, 0, {}, ['typecheck=2', 'lint=0'])
  t.same([r.status, r.line], [1, '3 passed, 1 failed, 0 skipped'], 'a failed typecheck fails the run')
  t.match(r.out, '# FAIL: typecheck exited 2')
})
