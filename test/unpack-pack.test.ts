// unpack, cat and pack: round trips on every fixture and on built archives,
// sparse output, hostile names that must not escape DIR, cleanup on failure,
// and pack(unpack(x)) == optimize(x).

import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { optimize } from '../src/optimize/optimize.js'
import { pack, readPackDir } from '../src/pack/pack.js'
import { unpack } from '../src/unpack/unpack.js'
import { expectedOptimized, makeContent, makeVma, type DeviceSpec } from './fixtures/make-vma.js'
import { BIN, SHARED, cliEnv, cliInProcess, expected, haveShared, sha256 } from './helpers.js'

const withData = (devs: { name: string; size: number; id?: number }[], seed = 1): DeviceSpec[] => devs.map((d, i) => ({ ...d, data: makeContent(d.size, seed * 100 + i) }))
const ls = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : [])
/** The CLI in this process (spawned only where a test needs a process: a kill mid-stream, a closed pipe), shaped as spawnSync's result. */
const run = async (args: string[], input?: Buffer) => {
  const r = await cliInProcess(args, input ? { input } : {})
  return { status: r.status, stdout: r.bytes, stderr: Buffer.from(r.stderr) }
}

t.test('unpack every shared fixture, from a path and from stdin', { skip: !haveShared && 'no shared fixtures' }, async t => {
  const exp = expected()
  const root = t.testdir()
  for (const [name, e] of Object.entries(exp)) {
    for (const how of ['path', 'stdin'] as const) {
      const dir = join(root, `${name}-${how}`)
      const r = how === 'path' ? await unpack(join(SHARED, name), dir) : await unpack('-', dir, { stdin: Readable.from([readFileSync(join(SHARED, name))]) })
      t.equal(r.files.length, Object.keys(e.configs).length + Object.keys(e.devices).length)
      for (const [cfg, c] of Object.entries(e.configs)) t.equal(sha256(readFileSync(join(dir, cfg))), c.sha256, `${name} ${how}: ${cfg}`)
      for (const [dev, d] of Object.entries(e.devices)) {
        const file = join(dir, `disk-${dev}.raw`)
        t.equal(statSync(file).size, d.size, `${name} ${how}: ${dev} size`)
        t.equal(sha256(readFileSync(file)), d.sha256, `${name} ${how}: ${dev} sha256`)
      }
      t.same(ls(dir), [...Object.keys(e.configs), ...Object.keys(e.devices).map(d => `disk-${d}.raw`)].sort(), 'nothing else')
    }
  }
})

t.test('unpacked images are sparse', async t => {
  const root = t.testdir()
  // 32 MiB, mostly zeros: a few MiB of data.
  const data = Buffer.alloc(32 << 20)
  data.fill(7, 0, 1 << 20)
  data.fill(9, 20 << 20, (20 << 20) + 4096)
  const v = makeVma({ devices: [{ name: 'drive-scsi0', size: data.length, data }], order: 'shuffled' })
  writeFileSync(join(root, 'a.vma'), v.buf)
  await unpack(join(root, 'a.vma'), join(root, 'out'))
  const st = statSync(join(root, 'out', 'disk-drive-scsi0.raw'))
  t.equal(st.size, 32 << 20)
  t.ok(st.blocks * 512 < 4 << 20, `allocated ${st.blocks * 512} bytes of 32 MiB`)
  t.ok(readFileSync(join(root, 'out', 'disk-drive-scsi0.raw')).equals(data))
})

t.test('--device limits what is written; the others are still checked', async t => {
  const root = t.testdir()
  const devices = withData([
    { name: 'drive-scsi0', size: 1 << 20 },
    { name: 'drive-efidisk0', size: 540672 },
  ])
  writeFileSync(join(root, 'a.vma'), makeVma({ devices, order: 'interleaved' }).buf)
  const r = await unpack(join(root, 'a.vma'), join(root, 'one'), { devices: ['drive-efidisk0'] })
  t.same(ls(join(root, 'one')), ['disk-drive-efidisk0.raw', 'qemu-server.conf'])
  t.same(r.skipped, ['drive-scsi0'])
  t.ok(readFileSync(join(root, 'one', 'disk-drive-efidisk0.raw')).equals(devices[1]!.data!))
  await t.rejects(unpack(join(root, 'a.vma'), join(root, 'two'), { devices: ['drive-nope'] }), { code: 'VMA_USAGE', message: /no device named "drive-nope".*drive-scsi0, drive-efidisk0/ })
  t.notOk(existsSync(join(root, 'two')), 'no directory created')
  // A missing cluster in a device that is not written still fails the unpack.
  const broken = makeVma({ devices, order: [...Array.from({ length: 16 }, (_, c) => ({ dev: 1, cluster: c })), ...Array.from({ length: 8 }, (_, c) => ({ dev: 2, cluster: c }))] })
  writeFileSync(join(root, 'b.vma'), broken.buf)
  await t.rejects(unpack(join(root, 'b.vma'), join(root, 'three'), { devices: ['drive-scsi0'] }), { code: 'VMA_MISSING_CLUSTER' })
  t.notOk(existsSync(join(root, 'three')), 'nothing left behind')
})

t.test('existing files are kept unless --force', async t => {
  const root = t.testdir({ out: { 'qemu-server.conf': 'mine' } })
  const devices = withData([{ name: 'drive-scsi0', size: 65536 }])
  writeFileSync(join(root, 'a.vma'), makeVma({ devices }).buf)
  await t.rejects(unpack(join(root, 'a.vma'), join(root, 'out')), { code: 'VMA_EXISTS' })
  t.equal(readFileSync(join(root, 'out', 'qemu-server.conf'), 'utf8'), 'mine')
  t.same(ls(join(root, 'out')), ['qemu-server.conf'])
  const r = await run(['unpack', join(root, 'a.vma'), join(root, 'out')])
  t.equal(r.status, 3)
  t.match(r.stderr.toString(), /exists \(use --force to overwrite\) \(VMA_EXISTS\)/)
  await unpack(join(root, 'a.vma'), join(root, 'out'), { force: true })
  t.not(readFileSync(join(root, 'out', 'qemu-server.conf'), 'utf8'), 'mine')
})

t.test('hostile names never escape DIR; damaged archives leave nothing behind', async t => {
  const root = t.testdir({ victim: {} })
  const cases: [string, Buffer, string][] = [
    ['device ../victim/x', makeVma({ devices: withData([{ name: '../victim/x', size: 65536 }]) }).buf, 'VMA_BAD_NAME'],
    ['device ..', makeVma({ devices: withData([{ name: '..', size: 65536 }]) }).buf, 'VMA_BAD_NAME'],
    ['config /etc/passwd', makeVma({ configs: [{ name: '/etc/passwd', data: 'x' }] }).buf, 'VMA_BAD_NAME'],
    ['config .', makeVma({ configs: [{ name: '.', data: 'x' }] }).buf, 'VMA_BAD_NAME'],
    ['config with NUL', makeVma({ configs: [{ name: 'a\0/../../x', data: 'x' }] }).buf, 'VMA_BAD_NAME'],
    ['truncated', makeVma({ devices: withData([{ name: 'drive-scsi0', size: 1 << 20 }]) }).buf.subarray(0, 100000), 'VMA_EXTENT_TRUNCATED'],
    ['missing cluster', makeVma({ devices: withData([{ name: 'drive-scsi0', size: 1 << 20 }]), order: [{ dev: 1, cluster: 0 }] }).buf, 'VMA_MISSING_CLUSTER'],
  ]
  for (const [label, buf, code] of cases) {
    const dir = join(root, 'out')
    const r = await run(['unpack', '-', dir], buf)
    t.equal(r.status, 1, `${label}: exit 1`)
    t.match(r.stderr.toString(), new RegExp(`\\(${code}\\)\\n$`), `${label}: ${code}`)
    t.notOk(existsSync(dir), `${label}: no output directory left`)
    t.same(ls(join(root, 'victim')), [], `${label}: nothing outside DIR`)
    t.same(ls(root), ['victim'], `${label}: nothing beside DIR`)
  }
})

t.test('SIGTERM during unpack from a pipe removes the partial files', async t => {
  const root = t.testdir()
  const v = makeVma({ devices: withData([{ name: 'drive-scsi0', size: 8 << 20 }]), order: 'shuffled' })
  const dir = join(root, 'out')
  const child = spawn(BIN, ['unpack', '-', dir], { env: cliEnv() })
  child.stdin.on('error', () => undefined)
  child.stdin.write(v.buf.subarray(0, v.buf.length >> 1))
  for (let i = 0; i < 200 && !ls(dir).some(f => f.endsWith('.partial')); i++) await new Promise(r => setTimeout(r, 25))
  t.ok(
    ls(dir).some(f => f.endsWith('.partial')),
    'partial files existed mid-run',
  )
  child.kill('SIGTERM')
  t.equal(await new Promise(r => child.on('close', r)), 143)
  t.same(ls(dir), [], 'no partial files left')
})

t.test('cat: one device in order, from a file, a pipe and compressed input', async t => {
  const root = t.testdir()
  const devices = withData([
    { name: 'drive-scsi0', size: 3 * 1024 * 1024 + 1536 },
    { name: 'drive-efidisk0', size: 540672 },
  ])
  const v = makeVma({ devices, order: 'shuffled' })
  const file = join(root, 'a.vma')
  writeFileSync(file, v.buf)
  spawnSync('zstd', ['-q', '-k', file])
  for (const [label, args, input] of [
    ['file', ['cat', file, 'drive-scsi0'], undefined],
    ['stdin', ['cat', '--tmpdir', root, '-', 'drive-scsi0'], v.buf],
    ['zstd', ['cat', '--tmpdir', root, `${file}.zst`, 'drive-scsi0'], undefined],
  ] as const) {
    const r = await run([...args], input)
    t.equal(r.status, 0, `${label}: exit 0`)
    t.ok(r.stdout.equals(devices[0]!.data!), `${label}: content`)
  }
  t.same(ls(root), ['a.vma', 'a.vma.zst'], 'spool files removed')
  const bad = await run(['cat', file, 'drive-nope'])
  t.equal(bad.status, 2)
  t.match(bad.stderr.toString(), /no device named "drive-nope"/)
  const broken = Buffer.from(v.buf.subarray(0, v.buf.length - 4096))
  const b = await run(['cat', '-', 'drive-efidisk0'], broken)
  t.equal(b.status, 1, 'a truncated archive is an error...')
  t.equal(b.stdout.length, 0, '...before any byte is written')
  const head = spawnSync('sh', ['-c', `'${BIN}' cat '${file}' drive-scsi0 | head -c 10 | wc -c`], { env: cliEnv() })
  t.equal(head.stdout.toString().trim(), '10', 'a closed pipe ends cat quietly')
  t.equal(head.stderr.toString(), '')
})

t.test('pack(unpack(x)) is optimize(x), byte for byte', async t => {
  const root = t.testdir()
  const devices = withData([
    { name: 'drive-efidisk0', size: 540672 },
    { name: 'drive-scsi0', size: 2 * 1024 * 1024 + 4096 + 512 },
    { name: 'drive-tpmstate0-backup', size: 4 << 20 },
  ])
  const configs = [
    { name: 'qemu-server.conf', data: 'cores: 1\n' },
    { name: 'qemu-server.fw', data: '[OPTIONS]\n' },
  ]
  const v = makeVma({ devices, configs, order: 'shuffled', ctime: 1700000000 })
  writeFileSync(join(root, 'a.vma'), v.buf)
  await unpack(join(root, 'a.vma'), join(root, 'u'))
  await optimize(join(root, 'a.vma'), { dest: join(root, 'opt.vma') })
  const r = await pack(join(root, 'packed.vma'), { ...readPackDir(join(root, 'u')), ctime: 1700000000 })
  t.equal(r.checked, true)
  t.ok(readFileSync(join(root, 'packed.vma')).equals(readFileSync(join(root, 'opt.vma'))), 'identical bytes')
  t.ok(readFileSync(join(root, 'packed.vma')).equals(expectedOptimized({ devices, configs, ctime: 1700000000 })), 'and the spec form')
  // The CLI form, compressed, through stdout.
  const c = spawnSync('sh', ['-c', `'${BIN}' pack --ctime 1700000000 '${join(root, 'u')}' - | zstd -q -c > '${join(root, 'p.vma.zst')}'`], { env: cliEnv() })
  t.equal(c.status, 0)
  t.ok(spawnSync('zstd', ['-dcq', join(root, 'p.vma.zst')], { maxBuffer: 64 << 20 }).stdout.equals(readFileSync(join(root, 'opt.vma'))))
  const z = await run(['pack', '--ctime', '1700000000', join(root, 'u'), join(root, 'q.vma.gz')])
  t.equal(z.status, 0)
  t.ok(spawnSync('gzip', ['-dc', join(root, 'q.vma.gz')], { maxBuffer: 64 << 20 }).stdout.equals(readFileSync(join(root, 'opt.vma'))), 'gzip by extension')
})

t.test('shared fixtures: pack(unpack(x)) == optimize(x)', { skip: !haveShared && 'no shared fixtures' }, async t => {
  const root = t.testdir()
  for (const name of ['two-disks.vma', 'two-disks-reordered.vma', 'odd-size.vma', 'no-disks.vma', 'two-disks.vma.lzo']) {
    const u = join(root, `${name}.d`)
    await unpack(join(SHARED, name), u)
    const packed = join(root, `${name}.packed`)
    const opt = join(root, `${name}.opt`)
    await pack(packed, { ...readPackDir(u), ctime: expected()[name]!.ctime })
    await optimize(join(SHARED, name), { dest: opt })
    t.ok(readFileSync(packed).equals(readFileSync(opt)), name)
  }
})

t.test('pack refuses what Proxmox cannot restore', async t => {
  const root = t.testdir({ 'empty.raw': '', 'ok.raw': 'x'.repeat(1000), 'big.conf': 'x'.repeat(70000), 'qemu-server.conf': 'a: 1\n', dir: {} })
  const p = (n: string) => join(root, n)
  const cases: [string, Parameters<typeof pack>[1], RegExp][] = [
    ['nothing', {}, /nothing to pack/],
    ['empty image', { disks: [{ name: 'd', path: p('empty.raw') }] }, /is empty/],
    ['config over 65535 bytes', { configs: [p('big.conf')] }, /at most 65535/],
    ['unsafe device name', { disks: [{ name: '../x', path: p('ok.raw') }] }, /contains '\/'/],
    ['white space', { disks: [{ name: 'a b', path: p('ok.raw') }] }, /white space/],
    [
      'duplicate disks',
      {
        disks: [
          { name: 'd', path: p('ok.raw') },
          { name: 'd', path: p('ok.raw') },
        ],
      },
      /two disks are named "d"/,
    ],
    ['duplicate configs', { configs: [p('qemu-server.conf'), p('qemu-server.conf')] }, /two configs/],
    ['a directory as image', { disks: [{ name: 'd', path: p('dir') }] }, /is a directory/],
    ['255 disks', { disks: Array.from({ length: 255 }, (_, i) => ({ name: `d${i}`, path: p('ok.raw') })) }, /at most 254/],
  ]
  for (const [label, o, msg] of cases) await t.rejects(pack(p('out.vma'), o), { message: msg }, label)
  t.notOk(existsSync(p('out.vma')))
  const r = await run(['pack', p('out.vma'), '--disk', `d=${p('empty.raw')}`])
  t.equal(r.status, 2)
  t.match(r.stderr.toString(), /\(VMA_CANNOT_PACK\)\n$/)
  const bad = await run(['pack', p('out.vma'), '--disk', 'nonsense'])
  t.equal(bad.status, 2)
  // An odd-sized image is padded to 512 and said so.
  const ok = await run(['pack', p('odd.vma'), '--config', p('qemu-server.conf'), '--disk', `drive-scsi0=${p('ok.raw')}`])
  t.equal(ok.status, 0)
  t.match(ok.stderr.toString(), /1000 bytes is not a multiple of 512; padded with zeros to 1024/)
  const u = join(root, 'u')
  mkdirSync(u)
  await unpack(p('odd.vma'), u, { force: true })
  t.equal(statSync(join(u, 'disk-drive-scsi0.raw')).size, 1024)
  t.ok(
    readFileSync(join(u, 'disk-drive-scsi0.raw'))
      .subarray(0, 1000)
      .equals(Buffer.from('x'.repeat(1000))),
  )
  t.equal((await run(['pack', p('odd.vma'), '--disk', `drive-scsi0=${p('ok.raw')}`])).status, 3, 'an existing DEST needs --force')
})

t.test('--json summaries of unpack and pack', async t => {
  const root = t.testdir()
  const devices = withData([{ name: 'drive-scsi0', size: 1 << 20 }])
  writeFileSync(join(root, 'a.vma'), makeVma({ devices, order: 'shuffled' }).buf)
  const u = await run(['unpack', '--json', join(root, 'a.vma'), join(root, 'u')])
  t.equal(u.status, 0)
  const uj = JSON.parse(u.stdout.toString())
  t.same(
    uj.files.map((f: { kind: string; name: string; size: number }) => [f.kind, f.name, f.size]),
    [
      ['config', 'qemu-server.conf', uj.files[0].size],
      ['device', 'drive-scsi0', 1 << 20],
    ],
  )
  t.ok(uj.files[1].written > 0 && uj.files[1].written <= 1 << 20, 'bytes of data written')
  const p = await run(['pack', '--json', '--ctime', '1700000000', join(root, 'u'), join(root, 'p.vma.zst')])
  t.equal(p.status, 0)
  const pj = JSON.parse(p.stdout.toString())
  t.equal(pj.compression, 'zstd')
  t.equal(pj.checked, true)
  t.same(
    pj.devices.map((d: { id: number; name: string; size: number }) => [d.id, d.name, d.size]),
    [[1, 'drive-scsi0', 1 << 20]],
  )
  t.match(pj.devices[0].digest, /^[0-9a-f]{16}$/)
  const v = await run(['verify', '--digest', '--json', join(root, 'p.vma.zst')])
  t.equal(JSON.parse(v.stdout.toString()).devices[0].digest, pj.devices[0].digest, 'verify --digest agrees with pack')
})
