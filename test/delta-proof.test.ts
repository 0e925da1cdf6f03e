// diff publishes a delta only after proving BASE + DELTA = NEW. With diff's
// one decision broken (a changed cluster judged the same, so left out of the
// delta and out of diff's own count of what it wrote), the delta reads back
// exactly as written, which the old proof accepted; the new one sums BASE's
// bytes for every cluster left out and finds that applying the delta would
// not give NEW: exit 4, and nothing is left behind. A bit flipped on the way
// to the file fails the delta's own check at the read-back: exit 4 too.

import t from 'tap'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { makeContent } from './fixtures/make-vma.js'
import { mutate, write } from './fixtures/delta-helpers.js'

t.test('a changed cluster left out of the delta: exit 4, nothing published', async t => {
  const dir = t.testdir()
  const size = 2 * 1048576 + 8192
  const d1 = makeContent(size, 11)
  const d2 = makeContent(540672, 12)
  const base = write(
    join(dir, 'base.vma'),
    {
      devices: [
        { name: 'drive-scsi0', size, data: d1 },
        { name: 'drive-scsi1', size: d2.length, data: d2 },
      ],
    },
    1,
  )
  const neu = write(
    join(dir, 'new.vma'),
    {
      devices: [
        { name: 'drive-scsi0', size, data: mutate(d1, 4) },
        { name: 'drive-scsi1', size: d2.length, data: mutate(d2, 5) },
      ],
    },
    2,
  )
  let dropped = 0
  let calls = 0
  const real = await import('../src/delta/same-content.js')
  const { diff } = await t.mockImport<typeof import('../src/delta/diff.js')>('../src/delta/diff.js', {
    '../src/delta/same-content.js': {
      // The second device's first changed cluster is judged the same (the first device's are all right).
      sameContent: (neu: Buffer, b: Buffer, at: number, length: number) => {
        const same = real.sameContent(neu, b, at, length)
        calls++
        if (!same && calls > Math.ceil(size / 65536) && dropped === 0) {
          dropped++
          return true
        }
        return same
      },
    },
  })
  const before = readdirSync(dir).sort()
  const delta = join(dir, 'new.vma-delta')
  await t.rejects(diff(base, neu, delta), {
    code: 'VMA_DIGEST_MISMATCH',
    exitCode: 4,
    message: /internal error: vma-opt's delta failed its check: applied to BASE it would give drive-scsi1 digest [0-9a-f]{16}, NEW's is [0-9a-f]{16}; nothing was written/,
  })
  t.equal(dropped, 1, 'one changed cluster of the last device was left out')
  t.same(readdirSync(dir).sort(), before, 'no delta and no temp file left behind')
})

t.test('a bit flipped in the delta on its way to the file: its own check fails the read-back, exit 4, nothing published', async t => {
  const dir = t.testdir()
  const size = 1048576
  const d1 = makeContent(size, 21)
  const base = write(join(dir, 'base.vma'), { devices: [{ name: 'drive-scsi0', size, data: d1 }] }, 1)
  const neu = write(join(dir, 'new.vma'), { devices: [{ name: 'drive-scsi0', size, data: mutate(d1, 6) }] }, 2)
  const body = await import('../src/delta/delta-body.js')
  let flipped = false
  const { diff } = await t.mockImport<typeof import('../src/delta/diff.js')>('../src/delta/diff.js', {
    '../src/delta/delta-body.js': {
      DeltaBody: {
        create: async (path: string) => {
          const b = await body.DeltaBody.create(path)
          const write = b.write.bind(b)
          b.write = (buf: Uint8Array) => {
            // An extent with data: a bit near its end, after the check sector was computed.
            if (!flipped && buf.length > 8192 && buf[3] === 0x45) {
              flipped = true
              buf[buf.length - 100] = buf[buf.length - 100]! ^ 1
            }
            return write(buf)
          }
          return b
        },
      },
    },
  })
  const before = readdirSync(dir).sort()
  await t.rejects(diff(base, neu, join(dir, 'new.vma-delta')), {
    code: 'VMA_DIGEST_MISMATCH',
    exitCode: 4,
    message: /internal error: vma-opt's delta failed its check: .*the stored data does not match its check/,
  })
  t.ok(flipped, 'the writer damaged the delta')
  t.same(readdirSync(dir).sort(), before, 'no delta and no temp file left behind')
})
