// A vmstate stream has no size bound (its clusters only have to come in
// sequence), and Proxmox's reader appends exactly its stored blocks. So
// optimize must carry every stored block of it, past the declared size and
// all-zero ones included, and the content digest must prove all of them.

import t from 'tap'
import { skipHere } from './tools.js'
import { randomBytes } from 'node:crypto'
import { writeFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { optimize } from '../src/optimize/optimize.js'
import { inspectArchive } from '../src/check/inspect.js'
import { VmaParser } from '../src/format/vma-parser.js'
import { makeContent, makeVma, type Entry } from './fixtures/make-vma.js'
import { extractWithProxmox, proxmoxVma } from './proxmox-vma.js'

/** The stored blocks of device `dev`, in stream order, as Proxmox's reader appends a vmstate stream. */
function storedStream(buf: Buffer, dev: number): { bytes: Buffer; masks: number[] } {
  const parts: Buffer[] = []
  const masks: number[] = []
  let mine = false
  const p = new VmaParser({
    cluster: e => {
      mine = e.devId === dev
      if (mine) masks.push(e.mask)
    },
    data: c => {
      if (mine) parts.push(Buffer.from(c))
    },
  })
  p.write(buf)
  p.end()
  return { bytes: Buffer.concat(parts), masks }
}

// 3 clusters of disk, 5 of vmstate although the header says a little over 2.
const disk = makeContent(3 * 65536, 1)
const declared = 2 * 65536 + 1000
const order: Entry[] = [
  { dev: 1, cluster: 0 },
  { dev: 2, cluster: 0 },
  { dev: 1, cluster: 1 },
  { dev: 2, cluster: 1 },
  { dev: 2, cluster: 2 },
  { dev: 1, cluster: 2 },
  { dev: 2, cluster: 3 },
  { dev: 2, cluster: 4 },
]
function archive(state: Buffer, extra: Partial<Entry>[] = []) {
  const entries = order.map((e, i) => ({ ...e, ...(extra[i] ?? {}) }))
  return makeVma({
    devices: [
      { name: 'drive-scsi0', size: disk.length, data: disk },
      { name: 'vmstate', size: declared, data: state },
    ],
    order: entries,
  }).buf
}

t.test('a vmstate stream longer than its declared size is carried whole and proven', async t => {
  const dir = t.testdir()
  const state = randomBytes(5 * 65536)
  // Cluster 3 stores an all-zero block explicitly (full mask over a zeroed block).
  state.fill(0, 3 * 65536 + 4096, 3 * 65536 + 8192)
  const a = archive(state, [{}, {}, {}, {}, {}, {}, { mask: 0xffff }])
  writeFileSync(join(dir, 'a.vma'), a)
  const r = await optimize(join(dir, 'a.vma'), { dest: join(dir, 'b.vma') })
  t.ok(r.written && r.checked, 'optimized and its own check passes')
  const b = readFileSync(join(dir, 'b.vma'))
  const before = storedStream(a, 2)
  const after = storedStream(b, 2)
  t.equal(after.bytes.length, 5 * 65536, 'every stored byte of the stream, also past the declared size')
  t.ok(after.bytes.equals(before.bytes), 'the same bytes in the same order')
  t.same(after.masks, before.masks, 'masks as stored (the stored zero block too)')
  t.equal((await optimize(join(dir, 'b.vma'))).written, false, 'the result is recognised as optimized')

  const vma = proxmoxVma()
  if (!vma.ok) skipHere(t, `Proxmox's vma: ${vma.reason}`)
  else {
    const x = extractWithProxmox(vma.path, join(dir, 'a.vma'), join(dir, 'xa'))
    const y = extractWithProxmox(vma.path, join(dir, 'b.vma'), join(dir, 'xb'))
    t.equal(x.status, 0, x.stderr)
    t.equal(y.status, 0, y.stderr)
    t.ok(readFileSync(join(dir, 'xb', 'vmstate.bin')).equals(readFileSync(join(dir, 'xa', 'vmstate.bin'))), "Proxmox's vma extract gives the same vmstate.bin")
  }
})

t.test('the content digest covers vmstate bytes past the declared size and its masks', async t => {
  const dir = t.testdir()
  const state = randomBytes(5 * 65536)
  const other = Buffer.from(state)
  other[4 * 65536 + 100]! ^= 1 // far past the declared size
  writeFileSync(join(dir, 'a.vma'), archive(state))
  writeFileSync(join(dir, 'b.vma'), archive(other))
  const zeroed = Buffer.from(state)
  zeroed.fill(0, 4 * 65536, 4 * 65536 + 4096)
  writeFileSync(join(dir, 'c.vma'), archive(zeroed)) // block 0 of cluster 4 left out of the mask
  writeFileSync(join(dir, 'd.vma'), archive(zeroed, [{}, {}, {}, {}, {}, {}, {}, { mask: 0xffff }])) // ... or stored as zeros
  const digest = async (f: string) => (await inspectArchive(join(dir, f), { digest: true })).devices.find(d => d.name === 'vmstate')!.digest
  t.not(await digest('a.vma'), await digest('b.vma'), 'a changed byte past the declared size changes the digest')
  t.not(await digest('c.vma'), await digest('d.vma'), 'a stored zero block and an absent one differ for vmstate (Proxmox appends stored blocks)')
  const disks = async (f: string) => (await inspectArchive(join(dir, f), { digest: true })).devices.find(d => d.name === 'drive-scsi0')!.digest
  t.equal(await disks('a.vma'), await disks('b.vma'), 'disk digests are unaffected')
})

t.test('an empty vmstate stream, before, after or instead of the disks (found by fuzzing its mutations in process)', async t => {
  const dir = t.testdir()
  const vma = proxmoxVma()
  const layouts: [string, { name: string; size: number; data?: Buffer }[], Entry[]][] = [
    [
      'after the disk',
      [
        { name: 'drive-scsi0', size: disk.length, data: disk },
        { name: 'vmstate', size: declared },
      ],
      [0, 1, 2].map(c => ({ dev: 1, cluster: c })),
    ],
    [
      'before the disk',
      [
        { name: 'vmstate', size: declared },
        { name: 'drive-scsi0', size: disk.length, data: disk },
      ],
      [0, 1, 2].map(c => ({ dev: 2, cluster: c })),
    ],
    ['alone', [{ name: 'vmstate', size: declared }], []],
  ]
  for (const [label, devices, order] of layouts) {
    const a = join(dir, `${label.replace(/ /g, '-')}.vma`)
    writeFileSync(a, makeVma({ devices: devices.map(d => ({ ...d, data: d.data ?? Buffer.alloc(0) })), order }).buf)
    const b = a.replace(/\.vma$/, '-opt.vma')
    const r = await optimize(a, { dest: b })
    t.ok(r.written && r.checked, `${label}: optimized and proven`)
    t.equal((await optimize(b)).written, false, `${label}: the result is recognised as optimized`)
    if (!vma.ok) skipHere(t, `Proxmox's vma: ${vma.reason}`)
    else {
      const x = extractWithProxmox(vma.path, b, `${b}.x`)
      t.equal(x.status, 0, `${label}: Proxmox's vma extract accepts it ${x.stderr}`)
    }
  }
})
