// Reads tap's TAP output and prints the plain "N passed, N failed" line CI
// looks for. Counts the top-level test points (one per assertion inside the
// files, as tap's own total does).
import { readFileSync } from 'node:fs'

const [log, status, fuzz] = process.argv.slice(2)
const text = readFileSync(log, 'utf8')
const m = [...text.matchAll(/^# \{ total: (\d+), pass: (\d+)(?:, fail: (\d+))?/gm)].pop()
let passed = 0
let failed = 0
if (m) {
  passed = Number(m[2])
  failed = Number(m[3] ?? 0)
} else {
  // No summary line: count assertion lines ourselves.
  passed = (text.match(/^\s*ok \d+/gm) ?? []).length
  failed = (text.match(/^\s*not ok \d+/gm) ?? []).length
}
if (Number(status) !== 0 && failed === 0) failed = 1
// The fuzz run (.ci/run), when given, counts as one more test.
if (fuzz !== undefined) {
  if (Number(fuzz) === 0) passed++
  else failed++
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(Number(status) !== 0 || failed > 0 ? 1 : 0)
