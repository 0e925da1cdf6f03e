// Archives written by Proxmox's own `vma` (../shared/fixtures): what we read
// must match expected.json exactly, plain and compressed, from a path and a
// stream, and whatever the chunking.

process.env.TZ = 'UTC'
import t from 'tap'
import { skipHere } from './tools.js'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { inspectArchive, readArchiveHeader } from '../src/check/inspect.js'
import { openInput } from '../src/input/archive-input.js'
import { vmaListText } from '../src/format/list-format.js'
import { rng } from './fixtures/make-vma.js'
import { SHARED, expected, haveShared, parseBuffer, sha256 } from './helpers.js'

if (!haveShared) {
  skipHere(t, `shared fixtures not found at ${SHARED}`)
} else {
  const all = expected()

  async function plainBytes(path: string, forceFzstd = false): Promise<Buffer> {
    const input = await openInput(path, { forceFzstd })
    const parts: Buffer[] = []
    for await (const c of input.chunks()) parts.push(Buffer.from(c))
    await input.close()
    return Buffer.concat(parts)
  }

  for (const [name, exp] of Object.entries(all)) {
    t.test(name, async t => {
      const path = join(SHARED, name)
      const plain = await plainBytes(path)
      t.equal(plain.length, exp.file_size, 'plain size')
      const p = parseBuffer(plain)
      t.same(p.order, exp.cluster_order, 'cluster order')
      t.equal(p.extents.length, exp.extents, 'extent count')
      for (const [dev, d] of Object.entries(exp.devices)) {
        t.equal(sha256(p.contents.get(d.dev_id)!), d.sha256, `${dev} sha256`)
      }
      const h = await readArchiveHeader(path)
      t.equal(vmaListText(h), exp.vma_list, 'vma list output, byte for byte')
      t.same(Object.fromEntries(h.configs.map(c => [c.name, { size: c.data.length, sha256: sha256(c.data) }])), exp.configs, 'configs')
      for (const readData of [false, true]) {
        const r = await inspectArchive(path, { readData })
        t.equal(r.uuid, exp.uuid)
        t.equal(r.ctime, exp.ctime)
        t.equal(r.headerSize, exp.header_size)
        t.equal(r.size, exp.file_size)
        t.equal(r.extents, exp.extents)
        t.equal(r.problemCount, 0, 'no problems')
        t.same(
          Object.fromEntries(r.devices.map(d => [d.name, { dev_id: d.id, size: d.size, clusters: d.clusters, nonzero_blocks: d.storedBlocks }])),
          Object.fromEntries(Object.entries(exp.devices).map(([k, d]) => [k, { dev_id: d.dev_id, size: d.size, clusters: d.clusters, nonzero_blocks: d.nonzero_blocks }])),
          `devices (${readData ? 'data read' : 'headers only'})`,
        )
        t.equal(
          r.sorted,
          exp.cluster_order.every((e, i, a) => i === 0 || e[0]! * 2 ** 32 + e[1]! > a[i - 1]![0]! * 2 ** 32 + a[i - 1]![1]!),
          'sorted flag',
        )
      }
      // The same through a stream, as from stdin.
      const viaStream = await inspectArchive('-', { stdin: Readable.from([readFileSync(path)]), digest: true })
      t.equal(viaStream.size, exp.file_size, 'from a stream')
      t.equal(viaStream.compression, name.endsWith('.zst') ? 'zstd' : name.endsWith('.gz') ? 'gzip' : name.endsWith('.lzo') ? 'lzop' : 'none')
    })
  }

  t.test('zstd without the zstd program (fzstd)', async t => {
    const plain = await plainBytes(join(SHARED, 'two-disks.vma.zst'), true)
    t.ok(plain.equals(readFileSync(join(SHARED, 'two-disks.vma'))))
  })

  t.test('digests: same content in any order or compression', async t => {
    const names = ['two-disks.vma', 'two-disks-reordered.vma', 'two-disks.vma.zst', 'two-disks.vma.gz', 'two-disks.vma.lzo']
    const digests = await Promise.all(names.map(async n => (await inspectArchive(join(SHARED, n), { digest: true })).devices.map(d => d.digest)))
    for (const d of digests) t.same(d, digests[0], 'equal digests')
    t.equal(new Set(digests[0]).size, 2, 'two devices, two different digests')
  })

  t.test('parser on a real archive one byte at a time and in random chunks', async t => {
    const buf = readFileSync(join(SHARED, 'two-disks-reordered.vma'))
    const whole = parseBuffer(buf)
    const r = rng(42)
    for (const [label, size] of [
      ['one byte', () => 1],
      ['random', () => 1 + Math.floor(r() * 9000)],
    ] as const) {
      const p = parseBuffer(buf, size)
      t.same(p.order, whole.order, `${label}: order`)
      for (const [id, c] of whole.contents) t.ok(p.contents.get(id)!.equals(c), `${label}: device ${id}`)
    }
  })
}

t.test('large compressed inputs read from a file: every compression gives the same content', async t => {
  const { randomBytes } = await import('node:crypto')
  const { spawnSync } = await import('node:child_process')
  const { writeFileSync } = await import('node:fs')
  const { makeVma } = await import('./fixtures/make-vma.js')
  const dir = t.testdir()
  // Larger than the 4 MiB read buffers, so chunks are reused while a decoder still works.
  const v = makeVma({ devices: [{ name: 'drive-scsi0', size: 24 << 20, data: randomBytes(24 << 20) }], order: 'shuffled' })
  const plain = join(dir, 'a.vma')
  writeFileSync(plain, v.buf)
  const want = (await inspectArchive(plain, { digest: true })).devices[0]!.digest
  for (const [tool, ext] of [
    ['gzip', 'gz'],
    ['zstd', 'zst'],
    ['lzop', 'lzo'],
  ] as const) {
    spawnSync(tool, ['-q', '-k', '-f', plain])
    const r = await inspectArchive(`${plain}.${ext}`, { digest: true })
    t.equal(r.devices[0]!.digest, want, `${ext}`)
  }
  const f = await inspectArchive(`${plain}.zst`, { digest: true, forceFzstd: true })
  t.equal(f.devices[0]!.digest, want, 'zst through fzstd')
})
