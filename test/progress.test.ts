// Progress: the rate and time left come from what was done over the last
// seconds (checked on a fake clock against the arithmetic), a terminal gets
// done/total, rate and the proof as its own phase (checked through a real
// pty with `script`), and a pipe gets nothing.

import t from 'tap'
import { skipHere } from './tools.js'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { ProgressMeter, humanDuration } from '../src/util/progress-meter.js'
import { makeProgress } from '../src/cli/progress.js'
import { makeContent, makeVma } from './fixtures/make-vma.js'
import { BIN, cliEnv } from './helpers.js'

const MiB = 1 << 20

t.test('the meter: rate over the last seconds, time left at that rate', async t => {
  const m = new ProgressMeter()
  t.equal(m.rate(), undefined, 'no rate before any sample')
  // 10 MiB/s for 3 s, sampled every 50 ms.
  for (let ms = 0; ms <= 3000; ms += 50) m.sample((ms / 1000) * 10 * MiB, ms)
  t.ok(Math.abs(m.rate()! - 10 * MiB) < 0.01 * MiB, `10 MiB/s measured as ${m.rate()}`)
  t.equal(m.line('writing', 30 * MiB, 100 * MiB), 'writing 30 MiB of 100 MiB (30%), 10 MiB/s, 7 s left')
  // The pace doubles: after a whole window the rate is the new one.
  for (let ms = 3050; ms <= 9000; ms += 50) m.sample(30 * MiB + ((ms - 3000) / 1000) * 20 * MiB, ms)
  t.ok(Math.abs(m.rate()! - 20 * MiB) < 0.01 * MiB, `20 MiB/s after the change, measured as ${m.rate()}`)
  // Unknown total: bytes and rate only.
  t.equal(m.line('reading', 150 * MiB, 0), 'reading 150 MiB, 20 MiB/s')
  m.reset()
  t.equal(m.rate(), undefined, 'a new phase starts without a rate')
  t.equal(m.line('proving', 0, 10 * MiB), 'proving 0 bytes of 10 MiB (0%)')
  // Less than a second of samples is no basis for a rate.
  m.sample(0, 0)
  m.sample(MiB, 500)
  t.equal(m.rate(), undefined, 'half a second: no rate yet')
  t.equal(humanDuration(59.4), '59 s')
  t.equal(humanDuration(200), '3 min 20 s')
  t.equal(humanDuration(7500), '2 h 05 min')
})

class Tty extends Writable {
  isTTY = true
  text = ''
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString()
    cb()
  }
}

t.test('a terminal is redrawn at most every 200 ms, a new phase at once; a pipe or -q gets nothing', async t => {
  let now = 0
  const tty = new Tty()
  const p = makeProgress(tty, 'optimize', 0, false, () => now)
  p.update(MiB, 'writing', 4 * MiB)
  now = 100
  p.update(2 * MiB, 'writing', 4 * MiB) // too soon: not drawn
  now = 150
  p.update(0, 'proving', 4 * MiB) // new phase: drawn at once
  p.done()
  t.same(tty.text.split('\r\x1b[K').filter(Boolean), ['writing 1 MiB of 4 MiB (25%)', 'proving 0 bytes of 4 MiB (0%)'])
  t.ok(tty.text.endsWith('\r\x1b[K'), 'done() clears the line')
  const pipe = new Tty()
  pipe.isTTY = false
  makeProgress(pipe, 'x', 0, false).update(1, 'writing', 2)
  const quiet = new Tty()
  makeProgress(quiet, 'x', 0, true).update(1, 'writing', 2)
  t.equal(pipe.text + quiet.text, '', 'nothing to a pipe or with -q')
})

t.test('optimize on a real terminal shows done/total and the proof as its own phase; in a pipe, nothing', async t => {
  const probe = spawnSync('script', ['--version'])
  if (probe.error) return skipHere(t, 'script (util-linux) not installed: no pty to test with')
  const dir = t.testdir({})
  const src = join(dir, 'in.vma')
  writeFileSync(src, makeVma({ devices: [{ name: 'drive-scsi0', size: 64 * MiB, data: makeContent(64 * MiB, 7) }], order: 'shuffled' }).buf)
  const cmd = `${BIN} optimize ${src} ${join(dir, 'out.vma')}`
  const tty = spawnSync('script', ['-qec', cmd, '/dev/null'], { env: cliEnv(), encoding: 'utf8', timeout: 120_000 })
  t.equal(tty.status, 0, `optimize under script: ${tty.stderr}`)
  const screens = tty.stdout.split(/\r\x1b\[K/)
  t.ok(
    screens.some(s => /^writing [\d.]+ \S+ of [\d.]+ MiB \(\d+%\)/.test(s)),
    'writing shows done of total',
  )
  t.ok(
    screens.some(s => /^proving [\d.]+ \S+ of [\d.]+ MiB \(\d+%\)/.test(s)),
    'the read-back proof is its own phase',
  )
  t.notOk(
    screens.some(s => s.startsWith('checking')),
    'no "checking" phase sitting at 0%',
  )
  const piped = spawnSync(BIN, ['optimize', '--force', src, join(dir, 'out.vma')], { env: cliEnv(), encoding: 'utf8' })
  t.equal(piped.status, 0)
  t.notMatch(piped.stderr, /\x1b|writing|proving/, 'stderr to a pipe carries no progress')
})

t.test("a log gets a line a minute, the first after a minute, in the terminal line's words", async t => {
  const { periodicProgress } = await import('../src/util/periodic-progress.js')
  const lines: string[] = []
  let now = 0
  const p = periodicProgress(
    l => lines.push(l),
    60_000,
    () => now,
  )
  // 10 MiB/s for 3 minutes, reported every 100 ms.
  for (now = 0; now <= 180_000; now += 100) p('writing', (now / 1000) * 10 * MiB, 2000 * MiB)
  t.same(lines, ['writing 600 MiB of 2.0 GiB (30%), 10 MiB/s, 2 min 20 s left', 'writing 1.2 GiB of 2.0 GiB (60%), 10 MiB/s, 1 min 20 s left', 'writing 1.8 GiB of 2.0 GiB (90%), 10 MiB/s, 20 s left'])
  const quick: string[] = []
  const q = periodicProgress(
    l => quick.push(l),
    60_000,
    () => now,
  )
  for (let i = 0; i < 100; i++) q('writing', i, 100)
  t.same(quick, [], 'a run shorter than a minute says nothing')
})
