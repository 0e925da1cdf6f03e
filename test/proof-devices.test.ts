// The read-back proof covers every part of the output, not just the first
// device: with the writer damaging the data of device 2, of the last device,
// a config's bytes or the creation time (plausibly: a damaged header gets a
// correct md5 again), optimize, pack, apply and diff each fail with exit 4
// (VMA_DIGEST_MISMATCH: vma-opt's own fault) and leave nothing behind, and
// the vzdump hook warns and keeps the archive as vzdump wrote it.

import t from 'tap'
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeContent, makeVma, type DeviceSpec } from './fixtures/make-vma.js'
import { damagingDiff, damagingWriteArchive, type Damage } from './fixtures/damaging-writers.js'
import { diff as realDiff } from '../src/delta/diff.js'

const CONF = 'memory: 2048\ncores: 4\n'
const day1: DeviceSpec[] = [
  { name: 'drive-scsi0', size: 1 << 20 },
  { name: 'drive-scsi1', size: 1 << 20 },
  { name: 'drive-virtio2', size: 655360 },
].map((d, i) => ({ ...d, data: makeContent(d.size, 30 + i) }))
// Day 2: every device changed somewhere, so that a delta holds clusters of each.
const day2 = day1.map((d, i) => ({ ...d, data: Buffer.from(d.data!).fill(i + 1, 65536, 3 * 65536) }))
const build = (devices: DeviceSpec[], seed: number) => makeVma({ devices, configs: [{ name: 'qemu-server.conf', data: CONF }], ctime: 1700000000 + seed, order: 'shuffled', seed }).buf

const damages: [string, Damage][] = [
  ['device 2', { device: 2 }],
  ['the last device', { device: 3 }],
  ['a config', { config: 'cores: 4' }],
  ['the creation time', 'ctime'],
]
const fault = { code: 'VMA_DIGEST_MISMATCH', exitCode: 4, message: /internal error: .*(failed its read-back check|failed its check)/ }

for (const [what, where] of damages) {
  t.test(`${what} damaged by the writer: exit 4 and nothing left, for optimize, pack, apply and diff`, async t => {
    const dir = t.testdir()
    const a = join(dir, 'a.vma')
    const b = join(dir, 'b.vma')
    writeFileSync(a, build(day1, 1))
    writeFileSync(b, build(day2, 2))
    const img = join(dir, 'img')
    mkdirSync(img)
    writeFileSync(join(img, 'qemu-server.conf'), CONF)
    for (const d of day1) writeFileSync(join(img, `disk-${d.name}.raw`), d.data!)
    const delta = join(dir, 'b.vma-delta')
    await realDiff(a, b, delta) // a sound delta (DLT2) for apply
    const before = readdirSync(dir).sort()
    const w = await damagingWriteArchive(t, where)

    const { optimize } = await t.mockImport<typeof import('../src/optimize/optimize.js')>('../src/optimize/optimize.js', { '../src/archive/write-archive.js': w })
    await t.rejects(optimize(a, { dest: join(dir, 'o.vma') }), fault, 'optimize')

    const { pack, readPackDir } = await t.mockImport<typeof import('../src/pack/pack.js')>('../src/pack/pack.js', { '../src/archive/write-archive.js': w })
    await t.rejects(pack(join(dir, 'p.vma'), { ...readPackDir(img), ctime: 1700000000 }), fault, 'pack')

    const { apply } = await t.mockImport<typeof import('../src/delta/apply.js')>('../src/delta/apply.js', { '../src/archive/write-archive.js': w })
    await t.rejects(apply(a, [delta], join(dir, 'x.vma')), fault, 'apply')

    const { diff } = await damagingDiff(t, where)
    await t.rejects(diff(a, b, join(dir, 'd.vma-delta')), fault, 'diff')

    t.same(readdirSync(dir).sort(), before, 'no output and no temp file left behind')
  })
}

t.test('the hook: device 2 or the last device damaged by the writer: a warning, the archive as vzdump wrote it', async t => {
  for (const device of [2, 3]) {
    const dir = t.testdir()
    const target = join(dir, 'vzdump-qemu-100-2026_11_21-22_46_19.vma')
    const archive = build(day1, 3)
    writeFileSync(target, archive)
    const w = await damagingWriteArchive(t, { device })
    const optimize = await t.mockImport<typeof import('../src/optimize/optimize.js')>('../src/optimize/optimize.js', { '../src/archive/write-archive.js': w })
    const { runHook } = await t.mockImport<typeof import('../src/hook/vzdump-hook.js')>('../src/hook/vzdump-hook.js', { '../src/optimize/optimize.js': optimize })
    const log: string[] = []
    const code = await runHook(['backup-end', 'snapshot', '100'], { VMTYPE: 'qemu', TARGET: target }, { log: l => log.push(l) })
    t.equal(code, 0, `device ${device}: the backup job does not fail`)
    t.match(log.join('\n'), /vma-opt: WARNING: could not optimize .*read-back check: device drive-\w+ content digest .*\(VMA_DIGEST_MISMATCH\); the archive was left as it is/)
    t.ok(readFileSync(target).equals(archive), `device ${device}: the archive is as vzdump wrote it`)
    t.same(readdirSync(dir), ['vzdump-qemu-100-2026_11_21-22_46_19.vma'], 'nothing else left')
  }
})
