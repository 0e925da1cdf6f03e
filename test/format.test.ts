// The format core: codecs, blob chain, and the streaming parser fed in every
// way a stream can arrive, on archives built from the spec.

import t from 'tap'
import { BlobTable, BlobWriter } from '../src/format/blob-buffer.js'
import { VmaHeader } from '../src/format/header.js'
import { ExtentHeader, popcount16 } from '../src/format/extent-header.js'
import { cTime } from '../src/format/ctime.js'
import { detectCompression } from '../src/input/detect.js'
import { validMask } from '../src/format/cluster-tracker.js'
import { fixExtentMd5, makeContent, makeVma, rng } from './fixtures/make-vma.js'
import { parseBuffer, sha256 } from './helpers.js'

t.test('blob chain', async t => {
  const w = new BlobWriter()
  const a = w.addString('qemu-server.conf')
  const b = w.add(Buffer.from('x'.repeat(300)))
  const c = w.addString('drive-scsi0')
  t.same([a, b, c], [1, 20, 322], 'the worked example of the format reference')
  t.equal(w.length, 336)
  const table = new BlobTable(w.toBuffer())
  t.equal(table.string(a), 'qemu-server.conf')
  t.equal(table.data(b)!.length, 300)
  t.equal(table.string(c), 'drive-scsi0')
  t.equal(table.string(2), undefined, 'a pointer between chain starts resolves to nothing')
  t.equal(table.string(0), undefined, 'offset 0 means none')
  t.equal(table.string(b), undefined, 'a blob without a trailing NUL is not a string')
  t.throws(() => w.add(Buffer.alloc(65536)), { code: 'VMA_BLOB_SIZE' })
})

t.test('header decode matches the spec-built header and encode reproduces it', async t => {
  const v = makeVma({
    configs: [
      { name: 'qemu-server.conf', data: 'a'.repeat(300) },
      { name: 'qemu-server.fw', data: '[OPTIONS]\nenable: 1\n' },
    ],
    devices: [
      { name: 'drive-efidisk0', size: 540672 },
      { name: 'drive-scsi0', size: 1 << 20 },
    ],
  })
  const h = VmaHeader.decode(v.buf.subarray(0, v.headerSize))
  t.equal(h.headerSize, v.headerSize)
  t.same(h.uuid, v.uuid)
  t.equal(h.ctime, 1795301179)
  t.same(
    h.configs.map(c => [c.slot, c.name, c.data.length]),
    [
      [0, 'qemu-server.conf', 300],
      [1, 'qemu-server.fw', 20],
    ],
  )
  t.same(h.deviceList, [
    { id: 1, name: 'drive-efidisk0', size: 540672 },
    { id: 2, name: 'drive-scsi0', size: 1 << 20 },
  ])
  const again = VmaHeader.encode({ uuid: h.uuid, ctime: h.ctime, configs: h.configs, devices: h.deviceList })
  t.ok(again.equals(h.raw), 'canonical encoding is what Proxmox writes')
})

t.test('extent header: slots, masks, block count', async t => {
  const v = makeVma({ devices: [{ name: 'drive-scsi0', size: 58 * 65536 + 4096 }], order: 'sequential' })
  t.equal(v.extents.length, 2, '59 clusters make two extents of 58 and 1')
  const e = new ExtentHeader().decode(v.buf, v.extents[0]!, v.extents[0]!, v.uuid)
  t.equal(e.count, 58)
  let blocks = 0
  for (let i = 0; i < e.count; i++) blocks += popcount16(e.masks[i]!)
  t.equal(e.blockCount, blocks)
  t.equal(e.size, v.extents[1]! - v.extents[0]!)
  const out = Buffer.alloc(512)
  ExtentHeader.encode(out, 0, v.uuid, e.count, e.masks, e.devIds, e.clusters)
  t.ok(out.equals(v.buf.subarray(v.extents[0]!, v.extents[0]! + 512)), 'encode gives the same 512 bytes')
  t.equal(popcount16(0xffff), 16)
  t.equal(popcount16(0x8001), 2)
  t.equal(validMask(540672, 8), 0x000f, 'efidisk: the last cluster has 4 blocks')
  t.equal(validMask(1053184, 16), 0x0003, 'odd size: 4608 bytes left, a full block and a straddling one')
  t.equal(validMask(65536, 1), 0)
})

t.test('parser: every chunking gives the same result', async t => {
  const v = makeVma({
    devices: [
      { name: 'drive-efidisk0', size: 540672 },
      { name: 'drive-scsi0', size: 3 * 1024 * 1024 + 12345 },
      { name: 'drive-scsi1', size: 200 * 1024 },
    ],
    order: 'shuffled',
    seed: 7,
  })
  const whole = parseBuffer(v.buf)
  for (const [id, content] of v.contents) t.equal(sha256(whole.contents.get(id)!), sha256(content), `device ${id} content`)
  t.equal(whole.size, v.buf.length)
  t.same(whole.extents, v.extents)
  const oneByte = parseBuffer(v.buf, () => 1)
  t.same(oneByte.order, whole.order, 'one byte at a time: same order')
  for (const [id, c] of whole.contents) t.ok(oneByte.contents.get(id)!.equals(c), `one byte at a time: device ${id}`)
  for (const seed of [1, 2, 3, 4, 5]) {
    const r = rng(seed)
    const p = parseBuffer(v.buf, () => 1 + Math.floor(r() * (seed % 2 ? 700 : 70000)))
    t.same(p.order, whole.order, `random chunks (seed ${seed}): same order`)
    for (const [id, c] of whole.contents) t.ok(p.contents.get(id)!.equals(c), `random chunks (seed ${seed}): device ${id}`)
  }
})

t.test('parser: 59 clusters per extent and holes between slots are legal', async t => {
  const v = makeVma({ devices: [{ name: 'd', size: 200 * 65536 }], perExtent: 59 })
  const p = parseBuffer(v.buf)
  t.equal(p.extents.length, 4)
  t.ok(p.contents.get(1)!.equals(v.contents.get(1)!))
  const v58 = makeVma({ devices: [{ name: 'd', size: 3 * 65536 }], perExtent: 58 })
  const b2 = Buffer.from(v58.buf)
  const x = v58.extents[0]!
  // Slots 0,1,2 used: move 1 and 2 to 5 and 9 (order of data unchanged).
  const slot = (i: number) => x + 40 + i * 8
  b2.copy(b2, slot(9), slot(2), slot(2) + 8)
  b2.copy(b2, slot(5), slot(1), slot(1) + 8)
  b2.fill(0, slot(1), slot(1) + 8)
  b2.fill(0, slot(2), slot(2) + 8)
  fixExtentMd5(b2, x)
  const p2 = parseBuffer(b2)
  t.same(p2.order, [
    [1, 0],
    [1, 1],
    [1, 2],
  ])
  t.ok(p2.contents.get(1)!.equals(v58.contents.get(1)!), 'holes change nothing')
})

t.test('ctime in C ctime() form', async t => {
  const tz = process.env.TZ
  process.env.TZ = 'UTC'
  t.equal(cTime(1795301179), 'Sat Nov 21 22:46:19 2026')
  t.equal(cTime(1704067200), 'Mon Jan  1 00:00:00 2024', 'day padded with a space')
  process.env.TZ = tz
})

t.test('compression is detected from magic bytes', async t => {
  t.equal(detectCompression(Buffer.from('VMA\0')), 'none')
  t.equal(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), 'zstd')
  t.equal(detectCompression(Buffer.from([0x5e, 0x2a, 0x4d, 0x18])), 'zstd', 'skippable frame')
  t.equal(detectCompression(Buffer.from([0x1f, 0x8b, 8])), 'gzip')
  t.equal(detectCompression(Buffer.from([0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a])), 'lzop')
  t.equal(detectCompression(Buffer.from('BZh9')), 'bzip2')
  t.equal(detectCompression(Buffer.from('hello')), 'unknown')
  t.equal(detectCompression(Buffer.alloc(0)), 'unknown')
})

t.test('generated content has every mask shape', async t => {
  const c = makeContent(4 << 20, 3)
  t.equal(c.length, 4 << 20)
  t.ok(c.some(x => x !== 0))
})
