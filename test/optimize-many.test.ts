// optimize -i FILE... (or three and more files): a dump directory in place,
// one archive after another, each with its own line or one-line error, a
// damaged one not stopping the rest, a summary, exit status the worst; the
// results are exactly what optimizing each alone gives.

import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expectedOptimized, makeContent, makeVma, type DeviceSpec } from './fixtures/make-vma.js'
import { cliInProcess } from './helpers.js'

const specs = (seed: number): DeviceSpec[] => [{ name: 'drive-scsi0', size: 1 << 20, data: makeContent(1 << 20, seed) }]

t.test('optimize -i A B and optimize A B C: each in place, a summary, the worst exit status', async t => {
  const dir = t.testdir({})
  const names = ['a', 'b', 'c', 'd'].map(n => join(dir, `vzdump-qemu-10${n.charCodeAt(0) - 97}-2026_12_01-01_00_00.vma`))
  const inputs = names.map((_, i) => makeVma({ devices: specs(i + 1), order: 'shuffled' }))
  names.forEach((n, i) => writeFileSync(n, inputs[i]!.buf))
  // c is damaged: its last cluster is cut off.
  writeFileSync(names[2]!, inputs[2]!.buf.subarray(0, inputs[2]!.buf.length - 4096))
  const r = await cliInProcess(['optimize', names[0]!, names[1]!, names[2]!, names[3]!])
  t.equal(r.status, 1, `a damaged archive among them: exit 1 (${r.stderr})`)
  for (const i of [0, 1, 3]) {
    t.ok(readFileSync(names[i]!).equals(expectedOptimized({ devices: specs(i + 1) })), `${i}: optimized in place, as alone`)
  }
  t.ok(readFileSync(names[2]!).equals(inputs[2]!.buf.subarray(0, inputs[2]!.buf.length - 4096)), 'the damaged one untouched')
  t.equal(r.stderr.trim().split('\n').length, 1, `one error line: ${r.stderr}`)
  t.match(r.stderr, /2026_12_01-01_00_00\.vma: .*\(VMA_\w+\)\n$/)
  t.match(r.stdout, /\n4 archives: 3 optimized, 0 already optimized, 1 failed; /)
  t.equal(r.stdout.split('optimized in place').length - 1, 3, 'one line per optimized file')
  // Two names are SRC and DEST unless -i says both are to be optimized in place.
  const two = await cliInProcess(['optimize', '-i', '--json', names[0]!, names[1]!])
  t.equal(two.status, 0, two.stderr)
  const j = JSON.parse(two.stdout) as { src: string; written: boolean }[]
  t.same(
    j.map(x => [x.src, x.written]),
    [
      [names[0], false],
      [names[1], false],
    ],
    '--json: an array; both already optimized',
  )
  const stdin = await cliInProcess(['optimize', '-i', '-', names[0]!])
  t.equal(stdin.status, 2, 'stdin cannot be optimized in place')
})
