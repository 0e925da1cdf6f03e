// Reads tap's TAP output and prints the plain "N passed, N failed, N skipped"
// line CI looks for (always the last line), exiting 1 unless the run is green.
//
//   node .ci/summary.mjs LOG STATUS [FUZZ [NAME=STATUS...]]
//
// LOG is `tap --reporter=tap` output, STATUS tap's exit status, FUZZ the fuzz
// run's (counted as one more test), and each NAME=STATUS another check run
// by .ci/run (typecheck=0 lint=0), each counted as one more test. The counts are tap's own (its closing
// `# { total, pass, fail, skip }` line: one per assertion and per skipped
// test). Every skip is named from the `ok N - NAME # SKIP REASON` lines,
// with its file. Green needs: status 0, no failure, at least one test passed
// (a log whose tests all skipped is never green), and, with CI=true, no skip
// that .ci/allowed-skips does not list; an unlisted skip counts as a failure.
//
// .ci/allowed-skips (or $VMA_OPT_ALLOWED_SKIPS): one skip a line,
//   FILE: TEXT -- WHY
// where FILE is the test file, TEXT a piece of the skipped test's name or
// reason, and WHY the reason this machine may skip it (required). Lines
// starting with # are comments.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const [log, status, fuzz, ...checks] = process.argv.slice(2)
if (log === undefined || status === undefined) {
  console.error('usage: node .ci/summary.mjs LOG STATUS [FUZZ [NAME=STATUS...]]')
  process.exit(2)
}
const text = readFileSync(log, 'utf8')
const lines = text.split('\n')

/** Every skipped test point: its file (the top-level subtest), name and reason. */
const skips = []
const path = [] // subtest names by depth
for (const line of lines) {
  const indent = /^ */.exec(line)[0].length
  const depth = Math.floor(indent / 4)
  const sub = /^\s*# Subtest: (.*)$/.exec(line)
  if (sub) {
    path.length = depth
    path[depth] = sub[1]
    continue
  }
  const ok = /^\s*ok \d+(?: - (.*?))? # SKIP\b:?\s*(.*)$/i.exec(line)
  if (ok) {
    const name = ok[1] ?? ''
    const file = depth === 0 ? name : (path[0] ?? '?')
    skips.push({ file, name: depth === 0 ? '' : [...path.slice(1, depth), name].join(' > '), reason: ok[2].trim() })
  }
}

/** tap's closing counts: `# { total: 7, pass: 2, fail: 1, skip: 5 }`. */
const counts = [...text.matchAll(/^# \{ (total: \d+[^}]*) \}$/gm)].pop()
let passed
let failed
let skipped
if (counts) {
  const field = k => Number(new RegExp(`\\b${k}: (\\d+)`).exec(counts[1])?.[1] ?? 0)
  passed = field('pass')
  failed = field('fail')
  skipped = Math.max(field('skip'), skips.length)
} else {
  // No closing line (tap was killed): count the test points ourselves.
  passed = lines.filter(l => /^\s*ok \d+/.test(l) && !/# SKIP\b/i.test(l)).length
  failed = lines.filter(l => /^\s*not ok \d+/.test(l)).length
  skipped = skips.length
  console.log('# summary: no tap total line in the log; counted the test points')
}

const problems = []
if (Number(status) !== 0 && failed === 0) {
  failed = 1
  problems.push(`tap exited ${status}`)
}
if (passed === 0) {
  failed++
  problems.push('no test passed')
}

if (process.env.CI === 'true' && skipped > 0) {
  const allow = readAllowed()
  const named = skips.filter(s => !allow.some(a => a.file === s.file && `${s.name} ${s.reason}`.includes(a.text)))
  for (const s of named) problems.push(`skip not allowed with CI=true: ${s.file}: ${s.name ? `${s.name}: ` : ''}${s.reason || '(no reason given)'}`)
  // A skip tap counted but the log does not show cannot have been allowed.
  const unseen = skipped - skips.length
  if (unseen > 0) problems.push(`${unseen} skip(s) counted by tap but not found in the log`)
  failed += named.length + unseen
  if (named.length + unseen === 0) console.log(`# summary: ${skipped} skip(s), each listed in .ci/allowed-skips`)
} else if (skipped > 0) {
  for (const s of skips) console.log(`# skipped: ${s.file}: ${s.name ? `${s.name}: ` : ''}${s.reason || '(no reason given)'}`)
}

// The fuzz run (.ci/run), when given, counts as one more test.
if (fuzz !== undefined) {
  if (Number(fuzz) === 0) passed++
  else {
    failed++
    problems.push(`the fuzz run exited ${fuzz}`)
  }
}
// Other checks (.ci/run: typecheck, lint), one test each.
for (const c of checks) {
  const [name, rc] = c.split('=')
  if (Number(rc) === 0) passed++
  else {
    failed++
    problems.push(`${name} exited ${rc}`)
  }
}
// Where CI time goes: the ten slowest test files (tap's time= on each file's line).
const times = lines
  .map(l => /^(?:not )?ok \d+ - (\S+) .*# time=([\d.]+)ms/.exec(l))
  .filter(m => m !== null)
  .map(m => [m[1], Number(m[2]) / 1000])
  .sort((a, b) => b[1] - a[1])
if (times.length)
  console.log(
    `# slowest: ${times
      .slice(0, 10)
      .map(([f, s]) => `${f} ${s.toFixed(0)} s`)
      .join(', ')}`,
  )
for (const p of problems) console.log(`# FAIL: ${p}`)
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`)
process.exit(failed > 0 ? 1 : 0)

function readAllowed() {
  const file = process.env.VMA_OPT_ALLOWED_SKIPS ?? join(dirname(fileURLToPath(import.meta.url)), 'allowed-skips')
  if (!existsSync(file)) return []
  const out = []
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.trim()
      if (!line || line.startsWith('#')) return
      const m = /^(\S+?):\s+(.+?)\s+--\s+(\S.*)$/.exec(line)
      if (!m) {
        problems.push(`${file}:${i + 1}: not FILE: TEXT -- WHY: ${line}`)
        failed++
        return
      }
      out.push({ file: m[1], text: m[2], why: m[3] })
    })
  return out
}
