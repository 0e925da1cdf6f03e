// The delta commands as users run them (compressed files, stdout, info,
// verify --base), Proxmox's vma refusing a delta, and the size of a delta on
// the generated day1/day2 pair.

import t from 'tap'
import { skipHere } from './tools.js'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { diff } from '../src/delta/diff.js'
import { optimize } from '../src/optimize/optimize.js'
import { findTool, proxmoxVma } from './tools.js'
import { makeContent } from './fixtures/make-vma.js'
import { K64, cli, mutate, write } from './fixtures/delta-helpers.js'

t.test('CLI: compressed delta and base, OUT on stdout, info and verify read deltas', async t => {
  const zstd = findTool('zstd')
  if (!zstd) return skipHere(t, 'zstd is not installed')
  const dir = t.testdir()
  const d = makeContent(1048576, 61)
  const base = write(join(dir, 'base.vma'), { devices: [{ name: 'drive-scsi0', size: d.length, data: d }] }, 1)
  const neu = write(join(dir, 'new.vma'), { devices: [{ name: 'drive-scsi0', size: d.length, data: mutate(d, 62) }] }, 2)
  t.equal((await cli(['optimize', '-q', base, join(dir, 'base.vma.zst')])).code, 0)
  t.equal((await cli(['diff', '-q', join(dir, 'base.vma.zst'), neu, join(dir, 'new.vma-delta.zst')])).code, 0)
  t.equal(readFileSync(join(dir, 'new.vma-delta.zst')).readUInt32LE(0), 0xfd2fb528, 'the delta is zstd-compressed by its name')
  const r = await cli(['apply', join(dir, 'base.vma.zst'), join(dir, 'new.vma-delta.zst'), '-'])
  t.equal(r.code, 0, r.stderr)
  await optimize(neu, { dest: join(dir, 'new.opt.vma') })
  t.ok(r.stdout.equals(readFileSync(join(dir, 'new.opt.vma'))), 'apply to stdout gives optimize(new)')
  t.equal((await cli(['diff', base, neu, join(dir, 'wrong.vma')])).code, 2, 'a delta must be named .vma-delta')
  const info = await cli(['info', '--json', join(dir, 'new.vma-delta.zst')])
  t.equal(info.code, 0, info.stderr)
  const j = JSON.parse(info.stdout.toString())
  t.equal(j.kind, 'delta')
  t.equal(j.delta.base.ctime, 1700000000)
  const v = await cli(['verify', join(dir, 'new.vma-delta.zst')])
  t.equal(v.code, 0, v.stderr)
  t.match(v.stdout.toString(), /delta/)
  const vb = await cli(['verify', '--base', join(dir, 'base.vma.zst'), join(dir, 'new.vma-delta.zst')])
  t.equal(vb.code, 0, vb.stderr)
  t.match(vb.stdout.toString(), /chain ok/)
  const wrong = await cli(['verify', '--base', neu, join(dir, 'new.vma-delta.zst')])
  t.equal(wrong.code, 1, 'verify --base with the wrong base: exit 1')
  const opt = await cli(['optimize', join(dir, 'new.vma-delta.zst'), join(dir, 'x.vma')])
  t.equal(opt.code, 1, 'optimize refuses a delta')
  t.match(opt.stderr, /vma-opt delta, not a backup/)
})

t.test("Proxmox's vma refuses a delta outright", async t => {
  const found = proxmoxVma()
  if (!found.ok) return skipHere(t, found.reason)
  const vma = found.path
  const { spawnSync } = await import('node:child_process')
  const dir = t.testdir()
  const d = makeContent(1048576, 71)
  const base = write(join(dir, 'base.vma'), { devices: [{ name: 'drive-scsi0', size: d.length, data: d }] }, 1)
  const neu = write(join(dir, 'new.vma'), { devices: [{ name: 'drive-scsi0', size: d.length, data: mutate(d, 72) }] }, 2)
  const delta = join(dir, 'new.vma-delta')
  await diff(base, neu, delta)
  const ok = spawnSync(vma, ['verify', base])
  t.equal(ok.status, 0, `vma verifies the base: ${ok.stderr}`)
  const v = spawnSync(vma, ['verify', delta])
  t.not(v.status, 0, `vma verify fails: ${v.stderr.toString().trim()}`)
  const x = spawnSync(vma, ['extract', delta, join(dir, 'x')])
  t.not(x.status, 0, `vma extract fails: ${x.stderr.toString().trim()}`)
  t.notOk(statSync(join(dir, 'x'), { throwIfNoEntry: false })?.isDirectory() && readdirSync(join(dir, 'x')).some(f => f.endsWith('.raw')), 'no disk image extracted')
})

t.test('size: on the generated day1/day2 pair the delta holds only the changed clusters, plus headers', async t => {
  const { writeDemoPair, DEMO_DEVICES } = await import('../src/sample/demo-pair.js')
  const { compareArchives } = await import('../src/compare/compare.js')
  const dir = t.testdir()
  // The pair of `npm run demo`: about 1% of drive-scsi0's clusters change.
  const { day1, day2 } = await writeDemoPair(dir)
  const delta = join(dir, 'day2.vma-delta')
  const r = await diff(day1, day2, delta)
  const changed = (await compareArchives(day1, day2)).total.clustersChanged
  t.equal(r.heldClusters, changed, `the delta holds exactly the ${changed} changed clusters`)
  const bytes = readFileSync(delta)
  const header = bytes.readUInt32BE(56)
  const extentHeaders = Math.ceil(changed / 59) + DEMO_DEVICES.length
  t.ok(bytes.length <= header + extentHeaders * 512 + changed * K64, `${bytes.length} bytes <= header ${header} + ${extentHeaders} extent headers + ${changed} x 64 KiB`)
  t.ok(bytes.length < statSync(day2).size / 50, `and a small part of day 2 (${statSync(day2).size} bytes)`)
})

t.test('compare reads a delta as the archive it reproduces', async t => {
  const { compareArchives } = await import('../src/compare/compare.js')
  const dir = t.testdir()
  const d = makeContent(1048576 + 4096, 81)
  const grown = Buffer.concat([mutate(d, 82), makeContent(200000, 83)])
  const base = write(
    join(dir, 'base.vma'),
    {
      devices: [
        { name: 'drive-scsi0', size: d.length, data: d },
        { name: 'drive-old', size: 65536 },
      ],
    },
    1,
  )
  const neu = write(
    join(dir, 'new.vma'),
    {
      devices: [
        { name: 'drive-scsi0', size: grown.length, data: grown },
        { name: 'drive-new', size: 8192 },
      ],
      configs: [{ name: 'qemu-server.conf', data: 'changed\n' }],
    },
    2,
  )
  const delta = join(dir, 'new.vma-delta')
  await diff(base, neu, delta)
  const direct = await compareArchives(base, neu)
  const viaDelta = await compareArchives(base, delta)
  t.same({ ...viaDelta, b: '' }, { ...direct, b: '' }, 'compare BASE DELTA == compare BASE NEW')
  t.equal((await cli(['compare', neu, delta])).code, 1, 'a delta against an archive it does not apply to: exit 1')
  t.equal((await cli(['compare', delta, base])).code, 2, 'a delta as A: usage error')
})
