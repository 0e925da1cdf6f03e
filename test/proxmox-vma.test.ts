// Proof by Proxmox's own reader: every kind of archive vma-opt writes passes
// `vma verify`, `vma extract` gives exactly the expected sha256 per device and
// config, and `vma list` prints what `vma-opt info --list` prints. And the
// other way round: archives by the real writer (`vma create`, its
// interleaving, odd sizes) read by vma-opt give the raw images' sha256.
// Without Proxmox's vma every test here skips, saying why.

import t from 'tap'
import { copyFileSync, createReadStream, readFileSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { runCli } from '../src/cli/main.js'
import { optimize } from '../src/optimize/optimize.js'
import { pack } from '../src/pack/pack.js'
import { unpack } from '../src/unpack/unpack.js'
import { inspectArchive } from '../src/check/inspect.js'
import { makeContent, makeVma } from './fixtures/make-vma.js'
import { SHARED, expected, haveShared, sha256, BIN, cliEnv } from './helpers.js'
import { assertProxmoxReads, createWithProxmox, proxmoxReads, proxmoxVma, sumsOf, type Expected } from './proxmox-vma.js'
import { spawnSync } from 'node:child_process'

const vma = proxmoxVma()
const noVma = vma.ok ? false : `Proxmox's vma cannot be used: ${vma.reason}`
const noShared = haveShared ? false : `${SHARED} not found (the archives Proxmox's vma wrote)`
const vmaPath = vma.ok ? vma.path : ''

/** `vma-opt info --list` through the CLI's own code, in process (a node start per archive would cost more than the rest). */
async function infoList(archive: string): Promise<string> {
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', c => chunks.push(c))
  const code = await runCli(['info', '--list', archive], { stdout: out, stderr: new PassThrough() } as never)
  if (code !== 0) throw new Error(`info --list ${archive}: exit ${code}`)
  return Buffer.concat(chunks).toString()
}
const proof = { infoList }

/** The sha256 Proxmox's fixtures are known to hold. */
function fixtureExpected(name: string): Expected {
  const e = expected()[name]!
  return {
    devices: Object.fromEntries(Object.entries(e.devices).map(([n, d]) => [n, d.sha256])),
    configs: Object.fromEntries(Object.entries(e.configs).map(([n, c]) => [n, c.sha256])),
  }
}

t.test('optimize output from every input form and compression', { skip: noVma || noShared }, async t => {
  const dir = t.testdir()
  const want = fixtureExpected('two-disks.vma')
  const cases: [string, string, string][] = [
    // [input fixture, output name, how]
    ['two-disks.vma', 'plain.vma', 'file'],
    ['two-disks.vma.zst', 'from-zst.vma.zst', 'file'],
    ['two-disks.vma.gz', 'from-gz.vma.gz', 'file'],
    ['two-disks.vma.lzo', 'from-lzo.vma', 'spool'],
    ['two-disks-reordered.vma', 'piped.vma', 'pipe'],
  ]
  for (const [input, out, how] of cases) {
    const src = join(SHARED, input)
    const dest = join(dir, out)
    if (how === 'pipe') await optimize('-', { dest, stdin: createReadStream(src) })
    else await optimize(src, { dest, spool: how === 'spool' })
    await assertProxmoxReads(t, vmaPath, dest, want, `${input} -> ${out} (${how})`, proof)
  }
  // In place, compressed, and through the real CLI with a pipe on stdin (gzip in, lzop out).
  copyFileSync(join(SHARED, 'two-disks.vma.zst'), join(dir, 'inplace.vma.zst'))
  await optimize(join(dir, 'inplace.vma.zst'))
  await assertProxmoxReads(t, vmaPath, join(dir, 'inplace.vma.zst'), want, 'in place (.zst)', proof)
  const r = spawnSync(BIN, ['optimize', '-', join(dir, 'cli.vma.lzo'), '-q'], { input: readFileSync(join(SHARED, 'two-disks.vma.gz')), env: cliEnv() })
  t.equal(r.status, 0, `the CLI reads a pipe: ${r.stderr}`)
  await assertProxmoxReads(t, vmaPath, join(dir, 'cli.vma.lzo'), want, 'CLI, gzip on a pipe -> .lzo', proof)
})

t.test('odd sizes, diskless and vmstate through optimize', { skip: noVma || noShared }, async t => {
  const dir = t.testdir()
  await optimize(join(SHARED, 'odd-size.vma'), { dest: join(dir, 'odd.vma') })
  await assertProxmoxReads(t, vmaPath, join(dir, 'odd.vma'), fixtureExpected('odd-size.vma'), 'odd-size', proof)
  await optimize(join(SHARED, 'no-disks.vma'), { dest: join(dir, 'none.vma.zst') })
  await assertProxmoxReads(t, vmaPath, join(dir, 'none.vma.zst'), fixtureExpected('no-disks.vma'), 'diskless', proof)

  // A legacy vmstate stream: Proxmox appends its stored blocks to vmstate.bin.
  const disk = makeContent(300 * 1024, 5)
  const state = makeContent(70 * 65536, 6)
  writeFileSync(
    join(dir, 'vmstate.vma'),
    makeVma({
      devices: [
        { name: 'drive-scsi0', size: disk.length, data: disk },
        { name: 'vmstate', size: state.length, data: state },
      ],
      order: 'interleaved',
      seed: 2,
    }).buf,
  )
  const before = proxmoxReads(vmaPath, join(dir, 'vmstate.vma'), dir)
  t.same(before.problems, [], 'the vmstate input is one Proxmox reads')
  await optimize(join(dir, 'vmstate.vma'), { dest: join(dir, 'vmstate-opt.vma') })
  await assertProxmoxReads(t, vmaPath, join(dir, 'vmstate-opt.vma'), { devices: before.extracted!.devices, configs: before.extracted!.configs }, 'vmstate', proof)
  t.equal(before.extracted!.devices['drive-scsi0'], sha256(disk), 'and the disk is the one put in')
})

/** Deterministic images with odd sizes (multiples of 512, as QEMU devices are). */
function images(dir: string, sizes: Record<string, number>): Record<string, Buffer> {
  mkdirSync(dir, { recursive: true })
  const out: Record<string, Buffer> = {}
  let seed = 10
  for (const [name, size] of Object.entries(sizes)) {
    out[name] = makeContent(size, seed++)
    writeFileSync(join(dir, `disk-${name}.raw`), out[name]!)
  }
  writeFileSync(join(dir, 'qemu-server.conf'), 'cores: 2\nmemory: 1024\n')
  return out
}

t.test('pack from a directory and from --disk, odd sizes, 254 devices', { skip: noVma }, async t => {
  const dir = t.testdir()
  const sizes = { 'drive-efidisk0': 540672, 'drive-scsi0': 1024 * 1024 + 512, 'drive-scsi1': 65536 * 3 + 4096 * 5 + 1536, 'drive-tpmstate0-backup': 4 * 1024 * 1024 }
  const imgs = images(join(dir, 'src'), sizes)
  const conf = sha256(readFileSync(join(dir, 'src', 'qemu-server.conf')))
  const want: Expected = { devices: Object.fromEntries(Object.entries(imgs).map(([n, b]) => [n, sha256(b)])), configs: { 'qemu-server.conf': conf } }
  const { readPackDir } = await import('../src/pack/pack.js')
  await pack(join(dir, 'dir.vma'), { ...readPackDir(join(dir, 'src')), ctime: 1700000000 })
  await assertProxmoxReads(t, vmaPath, join(dir, 'dir.vma'), want, 'pack DIR', proof)
  await pack(join(dir, 'disks.vma.zst'), {
    configs: [join(dir, 'src', 'qemu-server.conf')],
    disks: Object.keys(sizes).map(n => ({ name: n, path: join(dir, 'src', `disk-${n}.raw`) })),
    ctime: 1700000000,
  })
  await assertProxmoxReads(t, vmaPath, join(dir, 'disks.vma.zst'), want, 'pack --disk (.zst)', proof)

  // 254 devices, the most the format allows.
  const many = join(dir, 'many')
  mkdirSync(many)
  const manyExpected: Expected = { devices: {}, configs: { 'qemu-server.conf': conf } }
  copyFileSync(join(dir, 'src', 'qemu-server.conf'), join(many, 'qemu-server.conf'))
  for (let i = 0; i < 254; i++) {
    const name = `drive-scsi${i}`
    const b = Buffer.alloc(4096 * (1 + (i % 3)), 0)
    b.writeUInt32LE(i + 1, (i * 512) % b.length)
    writeFileSync(join(many, `disk-${name}.raw`), b)
    manyExpected.devices[name] = sha256(b)
  }
  await pack(join(dir, 'many.vma'), { ...readPackDir(many), ctime: 1700000000 })
  await assertProxmoxReads(t, vmaPath, join(dir, 'many.vma'), manyExpected, '254 devices', proof)
  await optimize(join(dir, 'many.vma'), { dest: join(dir, 'many-again.vma.gz') })
  await assertProxmoxReads(t, vmaPath, join(dir, 'many-again.vma.gz'), manyExpected, '254 devices, optimized again', proof)
})

t.test("archives by Proxmox's vma create are read right by vma-opt", { skip: noVma }, async t => {
  const dir = t.testdir()
  // vma create rounds sizes up to 512; these are 512-multiples that are not 4 KiB or 64 KiB multiples.
  const sizes = { 'drive-scsi0': 2 * 1024 * 1024 + 3 * 512, 'drive-scsi1': 700 * 1024 + 512, 'drive-efidisk0': 540672, 'drive-virtio0': 512 }
  const imgs = images(join(dir, 'src'), sizes)
  const drives = Object.keys(sizes).map(n => ({ name: n, path: join(dir, 'src', `disk-${n}.raw`) }))
  const c = createWithProxmox(vmaPath, join(dir, 'created.vma'), [join(dir, 'src', 'qemu-server.conf')], drives)
  t.equal(c.status, 0, `vma create: ${c.stderr}`)
  const want = Object.fromEntries(Object.entries(imgs).map(([n, b]) => [n, sha256(b)]))
  const wantCfg = { 'qemu-server.conf': sha256(readFileSync(join(dir, 'src', 'qemu-server.conf'))) }

  const v = spawnSync(BIN, ['verify', '--data', join(dir, 'created.vma')], { env: cliEnv(), encoding: 'utf8' })
  t.equal(v.status, 0, `vma-opt verify --data accepts it: ${v.stderr}`)
  const info = spawnSync(BIN, ['info', '--json', join(dir, 'created.vma')], { env: cliEnv(), encoding: 'utf8' })
  t.equal(info.status, 0, 'info --json')
  const devs = (JSON.parse(info.stdout) as { devices: { name: string; size: number }[] }).devices
  t.same(Object.fromEntries(devs.map(d => [d.name, d.size])), sizes, 'info --json gives every device and size')
  const r = await inspectArchive(join(dir, 'created.vma'), { digest: true })
  t.equal(r.problemCount, 0, 'no problems')

  await unpack(join(dir, 'created.vma'), join(dir, 'unpacked'))
  const got = sumsOf(join(dir, 'unpacked'))
  t.same(got.devices, want, 'unpack gives the raw images')
  t.same(got.configs, wantCfg, 'and the config')

  await optimize(join(dir, 'created.vma'), { dest: join(dir, 'opt.vma') })
  await unpack(join(dir, 'opt.vma'), join(dir, 'unpacked-opt'))
  t.same(sumsOf(join(dir, 'unpacked-opt')).devices, want, 'optimize then unpack gives the raw images')
  await assertProxmoxReads(t, vmaPath, join(dir, 'opt.vma'), { devices: want, configs: wantCfg }, 'vma create -> optimize', proof)
  t.ok(
    readdirSync(dir).every(f => !f.endsWith('.tmp')),
    'nothing left behind',
  )
})
