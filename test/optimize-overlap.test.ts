// optimize of a plain file runs its full check (pass 1) while it writes
// (pass 2), from an index of the headers alone. The result must be the same
// byte for byte as with the passes one after the other, and an input that
// changes under the writer must fail cleanly with nothing published.

import t from 'tap'
import { spawn } from 'node:child_process'
import { readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { optimize } from '../src/optimize/optimize.js'
import { expectedOptimized, makeContent, makeVma, type DeviceSpec } from './fixtures/make-vma.js'
import { BIN, cliEnv } from './helpers.js'

const withData = (devs: { name: string; size: number }[], seed = 1): DeviceSpec[] => devs.map((d, i) => ({ ...d, data: makeContent(d.size, seed * 100 + i) }))
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

t.test('overlapped and sequential passes write the same archive', async t => {
  const dir = t.testdir()
  const cases: [string, DeviceSpec[], Parameters<typeof makeVma>[0]][] = [
    [
      'three disks, interleaved',
      withData([
        { name: 'drive-efidisk0', size: 540672 },
        { name: 'drive-scsi0', size: (9 << 20) + 4096 * 3 + 512 },
        { name: 'drive-scsi1', size: 3 << 20 },
      ]),
      { order: 'interleaved', seed: 3 },
    ],
    ['shuffled, zero blocks stored', withData([{ name: 'drive-scsi0', size: 6 << 20 }], 2), { order: 'shuffled', seed: 9, storeZeroBlocks: true }],
    ['vmstate', [...withData([{ name: 'drive-virtio0', size: 2 << 20 }], 3), { name: 'vmstate', size: 300000, data: makeContent(300000, 77) }], { order: 'sequential' }],
  ]
  for (const [label, devices, o] of cases) {
    const src = join(dir, 'in.vma')
    writeFileSync(src, makeVma({ ...o, devices }).buf)
    const want = expectedOptimized({ devices })
    for (const noOverlap of [false, true]) {
      const dest = join(dir, `out-${noOverlap}.vma`)
      const r = await optimize(src, { dest, noOverlap, force: true })
      t.ok(readFileSync(dest).equals(want), `${label}, ${noOverlap ? 'sequential' : 'overlapped'}: the spec's optimized form`)
      t.equal(r.devices.length, devices.length, `${label}: every device's digest reported`)
    }
  }
  t.same(readdirSync(dir).sort(), ['in.vma', 'out-false.vma', 'out-true.vma'], 'no temp file left')
})

t.test('an input cut short while it is being written fails cleanly and publishes nothing', async t => {
  const dir = t.testdir()
  const src = join(dir, 'in.vma')
  const devices = withData(
    [
      { name: 'drive-scsi0', size: 96 << 20 },
      { name: 'drive-scsi1', size: 32 << 20 },
    ],
    5,
  )
  const full = makeVma({ devices, order: 'interleaved', seed: 1 }).buf
  let caught = 0
  for (let attempt = 0; attempt < 6 && caught < 2; attempt++) {
    writeFileSync(src, full)
    const dest = join(dir, 'out.vma')
    const run = spawn(BIN, ['optimize', '-q', src, dest], { env: cliEnv(), stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    run.stderr!.on('data', d => (stderr += d))
    const done = new Promise<number | null>(r => run.on('close', code => r(code)))
    // Cut the input once the temp output exists: pass 2 has begun.
    let cut = false
    for (let i = 0; i < 4000 && run.exitCode === null; i++) {
      if (readdirSync(dir).some(f => f.endsWith('.tmp'))) {
        truncateSync(src, Math.floor(full.length * 0.4))
        cut = true
        break
      }
      await sleep(1)
    }
    const code = await done
    if (!cut || code === 0) continue // finished before the cut: try again
    caught++
    t.ok(code === 1 || code === 3, `exit ${code}: the input's fault or an I/O problem, never an internal error`)
    t.match(stderr, /^vma-opt: .*in\.vma.*\n$/, `one line naming the input: ${stderr.trim()}`)
    t.same(readdirSync(dir).sort(), ['in.vma'], 'nothing published, no temp file left')
  }
  t.ok(caught > 0, `caught optimize writing ${caught} times`)
})
