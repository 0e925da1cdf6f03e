// The fuzzer's verdict on one command (test/fuzz/run-case.ts): what counts
// as a clean failure and what is a bug. `npm run fuzz` itself runs in
// .ci/run (60 s, fixed seed); this keeps its judge honest.

import t from 'tap'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { judge, sameDisk, type CommandResult } from './fuzz/run-case.js'
import { mutatePlain, rng, extentOffsets } from './fuzz/mutate.js'
import { makeContent, makeVma } from './fixtures/make-vma.js'

const limits = { timeoutMs: 1000, maxRssKb: 200 * 1024 }
const result = (o: Partial<CommandResult>): CommandResult => ({ args: ['verify', 'x'], status: 0, signal: null, timedOut: false, rssKb: 60000, stderr: '', stdout: '', ms: 10, ...o })

t.test('clean results pass', async t => {
  t.same(judge(result({}), limits), [], 'success')
  t.same(judge(result({ status: 1, stderr: 'vma-opt: x: extent at offset 12800: bad magic (VMA_EXTENT_MAGIC)\n' }), limits), [], 'one error line, exit 1')
  t.same(
    judge(result({ status: 1, stderr: 'vma-opt: x: blockinfo at offset 1: cluster 1 of d appears twice (VMA_DUPLICATE_CLUSTER) [and 3 more problems]\n' }), limits),
    [],
    "verify's count of more problems",
  )
  t.same(judge(result({ status: 3, stderr: 'vma-opt: warning: something\nvma-opt: x: no space (VMA_NO_SPACE)\n' }), limits), [], 'a warning line before the error')
})

t.test('bugs are caught', async t => {
  t.match(judge(result({ status: 4, stderr: 'vma-opt: internal error: boom (VMA_INTERNAL)\n' }), limits), [/exit 4/])
  t.match(judge(result({ status: 1, stderr: 'vma-opt: x: oops (VMA_X)\n    at foo (file.js:1:2)\n' }), limits), [/stack trace/])
  t.match(judge(result({ status: 1, stderr: 'TypeError: x is undefined\n' }), limits), [/not one clean line/])
  t.match(judge(result({ status: null, signal: 'SIGSEGV' }), limits), [/killed by SIGSEGV/])
  t.match(judge(result({ status: null, timedOut: true }), limits), [/hang/])
  t.match(judge(result({ rssKb: 300 * 1024 }), limits), [/peak RSS 300 MB/])
})

t.test('mutations are reproducible and keep extents findable', async t => {
  const v = makeVma({ devices: [{ name: 'drive-scsi0', size: 300 * 1024, data: makeContent(300 * 1024, 1) }] })
  t.ok(extentOffsets(v.buf).length === v.extents.length && extentOffsets(v.buf).every((o, i) => o === v.extents[i]), 'extents found where the writer put them')
  for (let k = 0; k < 20; k++) {
    const a = mutatePlain(v.buf, v.buf, rng(k))
    const b = mutatePlain(v.buf, v.buf, rng(k))
    t.ok(a.bytes.equals(b.bytes) && a.what.join() === b.what.join(), `case ${k}: ${a.what.join('; ')}`)
  }
})

t.test('a disk Proxmox pads to whole sectors is the same disk, and nothing else is', async t => {
  const dir = t.testdir()
  const disk = Buffer.from(makeContent(307713, 5))
  writeFileSync(join(dir, 'disk.raw'), disk)
  const padded = createHash('sha256')
    .update(disk)
    .update(Buffer.alloc(308224 - 307713))
    .digest('hex')
  t.ok(sameDisk(join(dir, 'disk.raw'), padded, 308224), 'zeros up to the next 512 bytes: the same disk')
  const otherTail = createHash('sha256')
    .update(disk)
    .update(Buffer.alloc(308224 - 307713, 1))
    .digest('hex')
  t.notOk(sameDisk(join(dir, 'disk.raw'), otherTail, 308224), 'a non-zero tail is not')
  const exact = createHash('sha256').update(disk).digest('hex')
  t.ok(sameDisk(join(dir, 'disk.raw'), exact, 307713), 'the same size and bytes')
  t.notOk(sameDisk(join(dir, 'disk.raw'), exact, 307713 + 512), 'a whole sector more is not padding')
  t.notOk(sameDisk(join(dir, 'disk.raw'), exact, 307712), 'shorter is not')
})

t.test('the serve verdict (delta and nbd targets)', async t => {
  const { judgeServe } = await import('./fuzz/serve-child.js')
  const { exportNames } = await import('./fuzz/delta-case.js')
  const { makeSessions } = await import('./fuzz/nbd-case.js')
  const j = (r: CommandResult) => judge(r, limits)
  const served = (o: Partial<CommandResult>) => result({ args: ['serve', 'a.vma'], status: 143, stderr: 'vma-opt: client 1: dropped: bad option magic\n', ...o })
  t.same(judgeServe(served({}), true, limits.maxRssKb, j), [], 'stopped by SIGTERM: 143, its own log lines')
  t.match(judgeServe(served({ status: 0 }), true, limits.maxRssKb, j), [/not 143/], 'a listening serve that exits 0 on SIGTERM')
  t.match(judgeServe(served({ status: null, timedOut: true }), true, limits.maxRssKb, j), [/hang/])
  t.match(judgeServe(served({ stderr: 'vma-opt: x\nTypeError: boom\n    at f (a.js:1:2)\n' }), true, limits.maxRssKb, j), [/stack trace/, /more than vma-opt's own lines/])
  t.match(judgeServe(served({ stderr: 'vma-opt: internal error: x (VMA_INTERNAL)\n' }), true, limits.maxRssKb, j), [/internal error/])
  t.match(judgeServe(served({ rssKb: 300 * 1024 }), true, limits.maxRssKb, j), [/peak RSS 300 MB/])
  t.same(judgeServe(served({ status: 1, stderr: 'vma-opt: d: header at offset 0: md5 mismatch (VMA_HEADER_MD5)\n' }), false, limits.maxRssKb, j), [], 'refused before listening: a clean error')
  t.same(exportNames('serving 2 exports read only on unix socket /s (Ctrl-C to stop)\n  nbd+unix:///drive-scsi0?socket=/s  1 MiB  (default export)\n  nbd+unix:///drive%20x?socket=/s  2 MiB\n'), [
    'drive-scsi0',
    'drive x',
  ])
  const disks = [{ name: 'drive-scsi0', data: Buffer.alloc(1 << 20) }]
  for (let k = 0; k < 10; k++) t.same(makeSessions(3, k, disks), makeSessions(3, k, disks), `nbd case ${k} is the same every time`)
})
