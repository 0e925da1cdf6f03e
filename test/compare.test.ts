// compare: identical content in any order is identical; a known set of
// changed blocks is reported exactly, class by class.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { compareArchives } from '../src/compare/compare.js'
import { makeContent, makeVma } from './fixtures/make-vma.js'
import { BIN, SHARED, cliEnv, haveShared } from './helpers.js'

t.test('same content, different order, uuid, extent packing: identical', async t => {
  const root = t.testdir()
  const devices = [
    { name: 'drive-scsi0', size: (2 << 20) + 512, data: makeContent((2 << 20) + 512, 1) },
    { name: 'drive-efidisk0', size: 540672, data: makeContent(540672, 2) },
  ]
  writeFileSync(join(root, 'a.vma'), makeVma({ devices, order: 'interleaved', seed: 1 }).buf)
  writeFileSync(join(root, 'b.vma'), makeVma({ devices, order: 'shuffled', seed: 2, perExtent: 59, storeZeroBlocks: true }).buf)
  const r = await compareArchives(join(root, 'a.vma'), join(root, 'b.vma'))
  t.equal(r.identical, true)
  t.equal(r.total.changed + r.total.newlyData + r.total.newlyZero, 0)
  t.equal(r.total.added4k, 0)
  t.equal(r.total.same, Math.ceil(devices[0]!.size / 65536) * 16 + Math.ceil(540672 / 65536) * 16)
})

t.test('a known set of changes is reported exactly', async t => {
  const root = t.testdir()
  const size = 40 * 65536
  const a = Buffer.alloc(size)
  a.fill(1, 0, 10 * 65536) // clusters 0-9 data
  const b = Buffer.from(a)
  b.fill(2, 3 * 4096, 5 * 4096) // 2 blocks changed in cluster 0
  b.fill(0, 2 * 65536, 2 * 65536 + 4096) // 1 block now zero in cluster 2
  b.fill(3, 20 * 65536, 20 * 65536 + 3 * 4096) // 3 new data blocks in cluster 20
  b.fill(4, 21 * 65536 + 15 * 4096, 22 * 65536) // 1 new block in cluster 21 (same run)
  const onlyA = { name: 'drive-old', size: 65536, data: Buffer.alloc(65536, 9) }
  const onlyB = { name: 'drive-new', size: 8192, data: Buffer.alloc(8192, 7) }
  writeFileSync(join(root, 'a.vma'), makeVma({ devices: [{ name: 'drive-scsi0', size, data: a }, onlyA], configs: [{ name: 'qemu-server.conf', data: 'v1' }], order: 'shuffled' }).buf)
  writeFileSync(
    join(root, 'b.vma'),
    makeVma({
      devices: [{ name: 'drive-scsi0', size, data: b }, onlyB],
      configs: [
        { name: 'qemu-server.conf', data: 'v2' },
        { name: 'qemu-server.fw', data: 'x' },
      ],
      order: 'interleaved',
    }).buf,
  )
  const r = await compareArchives(join(root, 'a.vma'), join(root, 'b.vma'))
  const d = r.devices.find(x => x.name === 'drive-scsi0')!
  t.equal(d.changed, 2)
  t.equal(d.newlyZero, 1)
  t.equal(d.newlyData, 4)
  t.equal(d.same, 40 * 16 - 7)
  t.equal(d.clustersChanged, 4)
  t.equal(d.changedRuns, 3, 'cluster 0, cluster 2, clusters 20-21')
  t.equal(d.added4k, 6 * 4096, 'changed and new non-zero blocks')
  t.equal(d.added64k, 4 * 65536, 'all four changed clusters still hold data')
  const old = r.devices.find(x => x.name === 'drive-old')!
  t.equal(old.sizeB, null, 'drive-old only in A')
  t.equal(old.newlyZero, 16, 'all its blocks count as gone')
  t.equal(old.added4k, 0, 'and add nothing for B')
  const nb = r.devices.find(x => x.name === 'drive-new')!
  t.equal(nb.sizeA, null)
  t.equal(nb.newlyData, 2)
  t.equal(nb.added4k, 8192)
  t.same(r.configs, [
    { name: 'qemu-server.conf', status: 'different' },
    { name: 'qemu-server.fw', status: 'only in B' },
  ])
  t.equal(r.identical, false)
  t.equal(r.total.added4k, 6 * 4096 + 8192)
  // The CLI, with B from stdin, as JSON and as a table.
  const j = spawnSync(BIN, ['compare', '--json', join(root, 'a.vma'), '-'], { input: (await import('node:fs')).readFileSync(join(root, 'b.vma')), env: cliEnv() })
  t.equal(j.status, 0)
  t.same(JSON.parse(j.stdout.toString()).total, JSON.parse(JSON.stringify(r.total)))
  const h = spawnSync(BIN, ['compare', join(root, 'a.vma'), join(root, 'b.vma')], { env: cliEnv() })
  t.match(h.stdout.toString(), /drive-scsi0 +2\.5 MiB +633 +2 +1 +4 +40 +4/)
  t.match(h.stdout.toString(), /only in B: drive-new/)
  t.match(h.stdout.toString(), /at 4 KiB blocks: +32 KiB/)
  const both = spawnSync(BIN, ['compare', '-', '-'], { env: cliEnv(), input: Buffer.alloc(0) })
  t.equal(both.status, 2)
})

t.test('shared fixtures: the reordered archive equals the original', { skip: !haveShared && 'no shared fixtures' }, async t => {
  const r = await compareArchives(join(SHARED, 'two-disks.vma.zst'), join(SHARED, 'two-disks-reordered.vma'))
  t.equal(r.identical, true)
  const o = await compareArchives(join(SHARED, 'two-disks.vma'), join(SHARED, 'odd-size.vma'))
  t.equal(o.identical, false)
})
