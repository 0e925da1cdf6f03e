// diff and apply: apply(BASE, diff(BASE, NEW)) is byte for byte what optimize
// makes of NEW, for every kind of change and along chains in both directions;
// a wrong base, a wrong order, a missing link or a damaged delta is refused
// (exit 1) with nothing written.

import t from 'tap'
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { runCli } from '../src/cli/main.js'
import { apply } from '../src/delta/apply.js'
import { diff } from '../src/delta/diff.js'
import { optimize } from '../src/optimize/optimize.js'
import { findTool } from '../src/util/find-tool.js'
import { fixHeaderMd5, makeContent, makeVma, type ConfigSpec, type DeviceSpec } from './fixtures/make-vma.js'

const K64 = 65536

async function cli(args: string[]) {
  const out = new PassThrough()
  const err = new PassThrough()
  const o: Buffer[] = []
  const e: Buffer[] = []
  out.on('data', c => o.push(c))
  err.on('data', c => e.push(c))
  const code = await runCli(args, { stdout: out, stderr: err } as never)
  return { code, stdout: Buffer.concat(o), stderr: Buffer.concat(e).toString() }
}

interface Version {
  devices: DeviceSpec[]
  configs?: ConfigSpec[]
  ctime?: number
}

function write(path: string, v: Version, seed: number): string {
  writeFileSync(path, makeVma({ devices: v.devices, configs: v.configs ?? [{ name: 'qemu-server.conf', data: 'memory: 512\n' }], ctime: v.ctime ?? 1700000000, order: seed % 2 ? 'shuffled' : 'interleaved', seed }).buf)
  return path
}

/** `data` with a few clusters rewritten (seeded), some made zero. */
function mutate(data: Buffer, seed: number): Buffer {
  const b = Buffer.from(data)
  const clusters = Math.ceil(b.length / K64)
  for (let k = 0; k < 3; k++) {
    const c = (seed * 7 + k * 5) % clusters
    const at = c * K64 + ((seed + k) % 16) * 4096
    if (at < b.length) b.fill(k === 2 ? 0 : (seed + k) & 0xff || 1, at, Math.min(b.length, at + (k === 2 ? K64 : 8192)))
  }
  return b
}

async function expectRoundTrip(t: Tap.Test, dir: string, base: string, neu: string, tag: string) {
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
  const base = write(join(dir, 'base.vma'), { devices: [{ name: 'drive-scsi0', size, data: d1 }, { name: 'drive-efidisk0', size: 540672 }] }, 1)
  const neu = write(
    join(dir, 'new.vma'),
    {
      devices: [{ name: 'drive-scsi0', size, data: mutate(d1, 3) }, { name: 'drive-efidisk0', size: 540672 }],
      configs: [{ name: 'qemu-server.conf', data: 'memory: 1024\n' }, { name: 'qemu-server.fw', data: '[OPTIONS]\n' }],
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
  const base = write(join(dir, 'base.vma'), { devices: [{ name: 'drive-scsi0', size: a.length, data: a }, { name: 'drive-scsi1', size: b.length, data: b }, { name: 'drive-old', size: 200704 }] }, 3)
  const grown = Buffer.concat([a, makeContent(300000, 7)])
  const shrunk = b.subarray(0, 700000 - 512)
  const neu = write(
    join(dir, 'new.vma'),
    { devices: [{ name: 'drive-scsi0', size: grown.length, data: grown }, { name: 'drive-scsi1', size: shrunk.length, data: shrunk }, { name: 'drive-new', size: 135680, data: makeContent(135680, 8) }] },
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
    flipped[hs + 512 + 100] ^= 0x40 // a data byte of the first held cluster
    writeFileSync(join(dir, 'flip.vma-delta'), flipped)
    const r1 = await cli(['apply', vs[0]!, join(dir, 'flip.vma-delta'), join(dir, 'bad.vma')])
    t.equal(r1.code, 1, 'damaged data: exit 1')
    t.match(r1.stderr, /digest/)
    const lied = Buffer.from(data)
    lied[hs - 1] ^= 1 // padding inside the header: md5 catches it
    writeFileSync(join(dir, 'md5.vma-delta'), lied)
    t.equal((await cli(['apply', vs[0]!, join(dir, 'md5.vma-delta'), join(dir, 'bad.vma')])).code, 1, 'damaged header: exit 1')
    const identity = Buffer.from(data)
    const at = identity.indexOf('"digest":"', 12288) + 10
    identity[at] = identity[at] === 0x30 ? 0x31 : 0x30 // the base identity, md5 fixed up
    fixHeaderMd5(identity)
    writeFileSync(join(dir, 'id.vma-delta'), identity)
    t.equal((await cli(['apply', vs[0]!, join(dir, 'id.vma-delta'), join(dir, 'bad.vma')])).code, 1, 'altered identity: exit 1')
    const after = readdirSync(dir).filter(f => !/^(flip|md5|id)\.vma-delta$/.test(f)).sort()
    t.same(after, before, 'no output and no temp file left behind')
  })
})

t.test('CLI: compressed delta and base, OUT on stdout, info and verify read deltas', async t => {
  const zstd = findTool('zstd')
  if (!zstd) return t.skip('zstd is not installed')
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
  const vma = join(import.meta.dirname, '..', '..', 'shared', 'tools', 'proxmox-vma', 'vma')
  if (!statSync(vma, { throwIfNoEntry: false })) return t.skip(`${vma} is not there`)
  const { spawnSync } = await import('node:child_process')
  const dir = t.testdir()
  const d = makeContent(1048576, 71)
  const base = write(join(dir, 'base.vma'), { devices: [{ name: 'drive-scsi0', size: d.length, data: d }] }, 1)
  const neu = write(join(dir, 'new.vma'), { devices: [{ name: 'drive-scsi0', size: d.length, data: mutate(d, 72) }] }, 2)
  const delta = join(dir, 'new.vma-delta')
  await diff(base, neu, delta)
  const ok = spawnSync(vma, ['verify', base])
  if (ok.status !== 0) return t.skip(`vma does not run here: ${ok.stderr}`)
  const v = spawnSync(vma, ['verify', delta])
  t.not(v.status, 0, `vma verify fails: ${v.stderr.toString().trim()}`)
  const x = spawnSync(vma, ['extract', delta, join(dir, 'x')])
  t.not(x.status, 0, `vma extract fails: ${x.stderr.toString().trim()}`)
  t.notOk(statSync(join(dir, 'x'), { throwIfNoEntry: false })?.isDirectory() && readdirSync(join(dir, 'x')).some(f => f.endsWith('.raw')), 'no disk image extracted')
})
