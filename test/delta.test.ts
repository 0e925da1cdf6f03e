// diff and apply: apply(BASE, diff(BASE, NEW)) is byte for byte what optimize
// makes of NEW, for every kind of change and along chains in both directions;
// a wrong base, a wrong order, a missing link or a damaged delta is refused
// (exit 1) with nothing written.

import t, { type Test } from 'tap'
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { apply } from '../src/delta/apply.js'
import { diff } from '../src/delta/diff.js'
import { optimize } from '../src/optimize/optimize.js'
import { fixHeaderMd5, makeContent, type DeviceSpec } from './fixtures/make-vma.js'
import { cli, mutate, write, type Version } from './fixtures/delta-helpers.js'

async function expectRoundTrip(t: Test, dir: string, base: string, neu: string, tag: string) {
  const delta = join(dir, `${tag}.vma-delta`)
  await diff(base, neu, delta)
  const out = join(dir, `${tag}.out.vma`)
  await apply(base, [delta], out)
  const opt = join(dir, `${tag}.opt.vma`)
  await optimize(neu, { dest: opt })
  t.ok(readFileSync(out).equals(readFileSync(opt)), `${tag}: apply(base, diff(base, new)) == optimize(new)`)
  return { delta, out, opt }
}

t.test('changed clusters, configs and ctime', async t => {
  const dir = t.testdir()
  const size = 3 * 1048576 + 12288
  const d1 = makeContent(size, 1)
  const base = write(
    join(dir, 'base.vma'),
    {
      devices: [
        { name: 'drive-scsi0', size, data: d1 },
        { name: 'drive-efidisk0', size: 540672 },
      ],
    },
    1,
  )
  const neu = write(
    join(dir, 'new.vma'),
    {
      devices: [
        { name: 'drive-scsi0', size, data: mutate(d1, 3) },
        { name: 'drive-efidisk0', size: 540672 },
      ],
      configs: [
        { name: 'qemu-server.conf', data: 'memory: 1024\n' },
        { name: 'qemu-server.fw', data: '[OPTIONS]\n' },
      ],
      ctime: 1700086400,
    },
    2,
  )
  const { delta } = await expectRoundTrip(t, dir, base, neu, 'changed')
  t.ok(statSync(delta).size < statSync(neu).size / 4, 'the delta is much smaller than NEW')
})

t.test('added, removed, grown and shrunk devices, odd sizes', async t => {
  const dir = t.testdir()
  const a = makeContent(2 * 1048576 + 4608, 5)
  const b = makeContent(1048576 + 1536, 6)
  const base = write(
    join(dir, 'base.vma'),
    {
      devices: [
        { name: 'drive-scsi0', size: a.length, data: a },
        { name: 'drive-scsi1', size: b.length, data: b },
        { name: 'drive-old', size: 200704 },
      ],
    },
    3,
  )
  const grown = Buffer.concat([a, makeContent(300000, 7)])
  const shrunk = b.subarray(0, 700000 - 512)
  const neu = write(
    join(dir, 'new.vma'),
    {
      devices: [
        { name: 'drive-scsi0', size: grown.length, data: grown },
        { name: 'drive-scsi1', size: shrunk.length, data: shrunk },
        { name: 'drive-new', size: 135680, data: makeContent(135680, 8) },
      ],
    },
    4,
  )
  await expectRoundTrip(t, dir, base, neu, 'devices')
  // and back: shrunk, grown, the other device added and removed
  await expectRoundTrip(t, dir, neu, base, 'reverse')
})

t.test('identical archives give an empty delta; a diskless archive works', async t => {
  const dir = t.testdir()
  const v: Version = { devices: [{ name: 'drive-scsi0', size: 1048576 + 4096, data: makeContent(1048576 + 4096, 9) }] }
  const base = write(join(dir, 'a.vma'), v, 1)
  const same = write(join(dir, 'b.vma'), v, 2) // other order and uuid, same content
  const { delta } = await expectRoundTrip(t, dir, base, same, 'same')
  const d = readFileSync(delta)
  t.equal(d.length, d.readUInt32BE(56), 'the delta is its header alone')
  const none = write(join(dir, 'none.vma'), { devices: [] }, 3)
  await expectRoundTrip(t, dir, base, none, 'diskless')
  await expectRoundTrip(t, dir, none, base, 'from-diskless')
})

/** Six versions of a VM: content changes, a disk grows, shrinks below an old size and grows again, a disk comes and goes. */
function versions(): Version[] {
  let main = makeContent(2 * 1048576, 21)
  const out: Version[] = []
  for (let i = 0; i < 6; i++) {
    main = mutate(main, 30 + i)
    const size = [2 * 1048576, 2 * 1048576 + 70000, 1048576 - 3584, 1048576 + 200704, 1048576 + 200704, 2 * 1048576 + 512][i]!
    const data = Buffer.alloc(size)
    main.copy(data, 0, 0, Math.min(size, main.length))
    if (size > main.length) makeContent(size - main.length, 40 + i).copy(data, main.length)
    main = data
    const devices: DeviceSpec[] = [{ name: 'drive-scsi0', size, data: Buffer.from(main) }]
    if (i % 3 !== 1) devices.push({ name: 'drive-scsi1', size: 266240, data: makeContent(266240, 50 + (i % 2)) })
    out.push({ devices, ctime: 1700000000 + i * 86400, configs: [{ name: 'qemu-server.conf', data: `cores: ${i + 1}\n` }] })
  }
  return out
}

t.test('chains of 5 deltas, forward and reverse', async t => {
  const dir = t.testdir()
  const vs = versions().map((v, i) => write(join(dir, `v${i}.vma`), v, i))
  const opt = await Promise.all(vs.map(async (v, i) => (await optimize(v, { dest: join(dir, `v${i}.opt.vma`) }), readFileSync(join(dir, `v${i}.opt.vma`)))))
  const fwd: string[] = []
  const rev: string[] = []
  for (let i = 1; i < 6; i++) {
    fwd.push(join(dir, `f${i}.vma-delta`))
    await diff(vs[i - 1]!, vs[i]!, fwd[i - 1]!)
    rev.push(join(dir, `r${i - 1}.vma-delta`))
    await diff(vs[i]!, vs[i - 1]!, rev[i - 1]!)
  }
  for (let n = 1; n <= 5; n += 2) {
    const out = join(dir, `fwd${n}.vma`)
    await apply(vs[0]!, fwd.slice(0, n), out)
    t.ok(readFileSync(out).equals(opt[n]!), `forward: v0 + ${n} deltas == optimize(v${n})`)
  }
  // Reverse: the newest stays whole; v0 is v5 plus the reverse deltas, newest first.
  const out = join(dir, 'rev.vma')
  await apply(vs[5]!, [...rev].reverse(), out)
  t.ok(readFileSync(out).equals(opt[0]!), 'reverse: v5 + 5 reverse deltas == optimize(v0)')
  // an optimized base or a restored archive is as good a base as the original
  await apply(join(dir, 'fwd3.vma'), fwd.slice(3), join(dir, 'from-restored.vma'))
  t.ok(readFileSync(join(dir, 'from-restored.vma')).equals(opt[5]!), 'a restored archive serves as the base of the rest')

  await t.test('wrong base, wrong order, missing link, damaged delta: exit 1, nothing written', async t => {
    const before = readdirSync(dir).sort()
    const cases: [string, string[], RegExp][] = [
      ['wrong base', ['apply', vs[1]!, fwd[0]!], /does not apply to BASE/],
      ['wrong order', ['apply', vs[0]!, fwd[1]!, fwd[0]!], /out of order/],
      ['missing link', ['apply', vs[0]!, fwd[0]!, fwd[2]!], /missing, or the order is wrong/],
      ['a delta as base', ['apply', fwd[0]!, fwd[1]!], /BASE must be a full archive/],
      ['an archive as delta', ['apply', vs[0]!, vs[1]!], /a full archive, not a vma-opt delta/],
    ]
    for (const [what, args, msg] of cases) {
      const r = await cli([...args, join(dir, 'bad.vma')])
      t.equal(r.code, 1, `${what}: exit 1`)
      t.match(r.stderr, msg, `${what}: ${r.stderr.trim()}`)
    }
    const data = readFileSync(fwd[0]!)
    const hs = data.readUInt32BE(56)
    const flipped = Buffer.from(data)
    flipped[hs + 1024 + 100] = flipped[hs + 1024 + 100]! ^ 0x40 // a data byte of the first held cluster (after the extent header and its check sector)
    writeFileSync(join(dir, 'flip.vma-delta'), flipped)
    const r1 = await cli(['apply', vs[0]!, join(dir, 'flip.vma-delta'), join(dir, 'bad.vma')])
    t.equal(r1.code, 1, 'damaged data: exit 1')
    t.match(r1.stderr, /flip\.vma-delta: data at offset \d+: cluster \d+ of drive-\w+: the stored data does not match its check .*\(VMA_DELTA_DATA\)/)
    const lied = Buffer.from(data)
    lied[hs - 1] = lied[hs - 1]! ^ 1 // padding inside the header: md5 catches it
    writeFileSync(join(dir, 'md5.vma-delta'), lied)
    t.equal((await cli(['apply', vs[0]!, join(dir, 'md5.vma-delta'), join(dir, 'bad.vma')])).code, 1, 'damaged header: exit 1')
    const identity = Buffer.from(data)
    const at = identity.indexOf('"digest":"', 12288) + 10
    identity[at] = identity[at] === 0x30 ? 0x31 : 0x30 // the base identity, md5 fixed up
    fixHeaderMd5(identity)
    writeFileSync(join(dir, 'id.vma-delta'), identity)
    t.equal((await cli(['apply', vs[0]!, join(dir, 'id.vma-delta'), join(dir, 'bad.vma')])).code, 1, 'altered identity: exit 1')
    const after = readdirSync(dir)
      .filter(f => !/^(flip|md5|id)\.vma-delta$/.test(f))
      .sort()
    t.same(after, before, 'no output and no temp file left behind')
  })
})
