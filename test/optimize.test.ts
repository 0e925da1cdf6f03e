// optimize: the output equals the optimized form built from the spec by the
// test encoder, byte for byte; it is the same whatever the input order or
// compression; it is idempotent; and nothing is lost or left behind when
// things go wrong.

import t from 'tap'
import { skipHere } from './tools.js'
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync, copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { optimize } from '../src/optimize/optimize.js'
import { expectedOptimized, makeContent, makeVma, type DeviceSpec } from './fixtures/make-vma.js'
import { BIN, SHARED, cliEnv, cliInProcess, expected, haveShared, parseBuffer, sha256 } from './helpers.js'
import { optimizeWithBrokenWriter } from './broken-writer.js'

const withData = (devs: { name: string; size: number; id?: number }[], seed = 1): DeviceSpec[] => devs.map((d, i) => ({ ...d, data: makeContent(d.size, seed * 100 + i) }))

function files(dir: string) {
  return readdirSync(dir).sort()
}

t.test('output equals the spec-built optimized form, whatever the input order', async t => {
  const devices = withData([
    { name: 'drive-efidisk0', size: 540672 },
    { name: 'drive-scsi0', size: 5 * 1024 * 1024 + 4096 * 3 + 512 },
    { name: 'drive-tpmstate0-backup', size: 4 * 1024 * 1024 },
  ])
  const configs = [
    { name: 'qemu-server.conf', data: 'cores: 4\n#qmdump#map:scsi0:drive-scsi0:local:raw:\n' },
    { name: 'qemu-server.fw', data: '[OPTIONS]\nenable: 1\n' },
  ]
  const want = expectedOptimized({ devices, configs })
  const dir = t.testdir()
  for (const [label, o] of [
    ['sequential, 58 per extent', { order: 'sequential' as const }],
    ['interleaved', { order: 'interleaved' as const, seed: 3 }],
    ['shuffled', { order: 'shuffled' as const, seed: 4 }],
    ['shuffled, 59 per extent', { order: 'shuffled' as const, seed: 5, perExtent: 59 }],
    ['zero blocks stored', { order: 'interleaved' as const, storeZeroBlocks: true }],
  ] as const) {
    const src = join(dir, 'in.vma')
    const dest = join(dir, 'out.vma')
    writeFileSync(src, makeVma({ devices, configs, ...o }).buf)
    const r = await optimize(src, { dest, force: true }) // the same DEST each round
    t.ok(readFileSync(dest).equals(want), `${label}: byte-identical to the spec's optimized form`)
    t.equal(r.written, true)
    t.equal(r.checked, true)
    t.same(files(dir), ['in.vma', 'out.vma'], `${label}: no temp files left`)
  }
})

t.test('edge shapes: one cluster, odd sizes, many devices, diskless, pre-2020 full tails', async t => {
  const dir = t.testdir()
  const shapes: [string, DeviceSpec[], Parameters<typeof makeVma>[0]?][] = [
    ['one tiny device', withData([{ name: 'drive-scsi0', size: 512 }])],
    [
      '58 and 59 clusters',
      withData([
        { name: 'a', size: 58 * 65536 },
        { name: 'b', size: 59 * 65536 },
        { name: 'c', size: 60 * 65536 - 1536 },
      ]),
    ],
    ['254 devices', withData(Array.from({ length: 254 }, (_, i) => ({ name: `drive-scsi${i}`, size: 4096 * (1 + (i % 20)) })))],
    [
      'sparse ids',
      withData([
        { name: 'x', size: 70000 + 512, id: 3 },
        { name: 'y', size: 131072, id: 9 },
      ]),
      { order: 'shuffled' },
    ],
    ['diskless', []],
  ]
  for (const [label, devices, extra] of shapes) {
    const src = join(dir, 'in.vma')
    writeFileSync(src, makeVma({ devices, order: 'interleaved', ...extra }).buf)
    await optimize(src, { dest: join(dir, 'out.vma'), force: true })
    t.ok(readFileSync(join(dir, 'out.vma')).equals(expectedOptimized({ devices })), label)
  }
  // An archive from before Proxmox's 2020 fix: mask 0xffff on the short last cluster.
  const devices = withData([{ name: 'drive-scsi0', size: 65536 + 8192 }])
  const old = makeVma({
    devices,
    order: [
      { dev: 1, cluster: 0 },
      { dev: 1, cluster: 1, mask: 0xffff },
    ],
  })
  writeFileSync(join(dir, 'old.vma'), old.buf)
  await optimize(join(dir, 'old.vma'), { dest: join(dir, 'old-opt.vma') })
  t.ok(readFileSync(join(dir, 'old-opt.vma')).equals(expectedOptimized({ devices })), 'blocks past the end are dropped')
})

t.test('shared fixtures: reordered and plain optimize to the same bytes, with the expected content', { skip: !haveShared && 'no shared fixtures' }, async t => {
  const exp = expected()
  const dir = t.testdir()
  const outs: Buffer[] = []
  for (const name of ['two-disks.vma', 'two-disks-reordered.vma', 'two-disks.vma.zst', 'two-disks.vma.gz', 'two-disks.vma.lzo']) {
    const dest = join(dir, `${name}.opt.vma`)
    await optimize(join(SHARED, name), { dest })
    const out = readFileSync(dest)
    outs.push(out)
    const p = parseBuffer(out)
    for (const d of Object.values(exp[name]!.devices)) t.equal(sha256(p.contents.get(d.dev_id)!), d.sha256, `${name}: device ${d.dev_id} content`)
    t.equal(p.header.ctime, exp[name]!.ctime)
    t.same(
      p.header.configs.map(c => [c.name, sha256(c.data)]),
      Object.entries(exp[name]!.configs).map(([n, c]) => [n, c.sha256]),
    )
  }
  for (const o of outs) t.ok(o.equals(outs[0]!), 'all inputs give identical output')
  for (const name of ['odd-size.vma', 'no-disks.vma']) {
    const dest = join(dir, `${name}.opt.vma`)
    await optimize(join(SHARED, name), { dest })
    const p = parseBuffer(readFileSync(dest))
    for (const d of Object.values(exp[name]!.devices)) t.equal(sha256(p.contents.get(d.dev_id)!), d.sha256, `${name}: content`)
    t.equal(p.extents.length, 1, `${name}: one extent`)
  }
})

t.test('idempotent: an optimized archive optimizes to itself and in place is left alone', async t => {
  const dir = t.testdir()
  const devices = withData([
    { name: 'drive-scsi0', size: 3 << 20 },
    { name: 'drive-efidisk0', size: 540672 },
  ])
  const src = join(dir, 'a.vma')
  writeFileSync(src, makeVma({ devices, order: 'interleaved' }).buf)
  await optimize(src)
  const once = readFileSync(src)
  t.ok(once.equals(expectedOptimized({ devices })), 'in place gives the optimized form')
  const st = statSync(src)
  const again = await optimize(src)
  t.equal(again.written, false, 'second run writes nothing')
  t.equal(again.alreadyOptimized, true)
  t.equal(statSync(src).mtimeMs, st.mtimeMs, 'file untouched')
  t.equal(statSync(src).ino, st.ino, 'same inode')
  await optimize(src, { dest: join(dir, 'b.vma') })
  t.ok(readFileSync(join(dir, 'b.vma')).equals(once), 'optimizing an optimized archive gives the same bytes')
  // --keep-uuid keeps the input's uuid, and the result is still canonical.
  const v = makeVma({ devices, order: 'shuffled' })
  writeFileSync(join(dir, 'k.vma'), v.buf)
  await optimize(join(dir, 'k.vma'), { keepUuid: true })
  t.ok(readFileSync(join(dir, 'k.vma')).equals(expectedOptimized({ devices }, v.uuid)), '--keep-uuid')
  t.equal((await optimize(join(dir, 'k.vma'), { keepUuid: true })).written, false, '--keep-uuid: idempotent')
  t.equal((await optimize(join(dir, 'k.vma'))).written, true, 'without --keep-uuid the uuid is replaced')
})

t.test('in place keeps name, permissions and compression', async t => {
  const dir = t.testdir()
  const devices = withData([{ name: 'drive-scsi0', size: 2 << 20 }])
  const want = expectedOptimized({ devices })
  for (const [ext, tool, decode] of [
    ['zst', 'zstd', ['zstd', '-dcq']],
    ['gz', 'gzip', ['gzip', '-dc']],
    ['lzo', 'lzop', ['lzop', '-dc']],
  ] as const) {
    const plain = join(dir, 'vzdump-qemu-100-2026_11_21-22_46_19.vma')
    writeFileSync(plain, makeVma({ devices, order: 'shuffled' }).buf)
    spawnSync(tool, tool === 'lzop' ? ['-U', '-q', plain] : ['-q', '--rm', plain].filter(a => tool !== 'gzip' || a !== '--rm'))
    if (existsSync(plain)) spawnSync('rm', [plain])
    const file = `${plain}.${ext}`
    chmodSync(file, 0o640)
    const r = await optimize(file)
    t.equal(r.compression, tool === 'lzop' ? 'lzop' : tool, `${ext}: compression kept`)
    t.equal(statSync(file).mode & 0o777, 0o640, `${ext}: mode kept`)
    const out = spawnSync(decode[0], [...decode.slice(1), file], { maxBuffer: 64 << 20 }).stdout
    t.ok(out.equals(want), `${ext}: content is the optimized form`)
    t.same(files(dir), [`vzdump-qemu-100-2026_11_21-22_46_19.vma.${ext}`], `${ext}: nothing else in the directory`)
    t.equal((await optimize(file)).written, false, `${ext}: second run leaves it alone`)
    spawnSync('rm', [file])
  }
})

t.test('invalid input: rejected before any output, source untouched', async t => {
  const dir = t.testdir()
  const v = makeVma({
    devices: withData([{ name: 'drive-scsi0', size: 1 << 20 }]),
    order: [
      { dev: 1, cluster: 0 },
      { dev: 1, cluster: 2 },
    ],
  })
  const src = join(dir, 'bad.vma')
  writeFileSync(src, v.buf)
  await t.rejects(optimize(src), { code: 'VMA_MISSING_CLUSTER' })
  await t.rejects(optimize(src, { dest: join(dir, 'out.vma') }), { code: 'VMA_MISSING_CLUSTER' })
  t.same(files(dir), ['bad.vma'])
  t.ok(readFileSync(src).equals(v.buf))
  const r = await cliInProcess(['optimize', src])
  t.equal(r.status, 1)
  t.match(r.stderr, /^vma-opt: .*bad\.vma: archive: device drive-scsi0 lacks 14 of its 16 clusters \(first missing: cluster 1\) \(VMA_MISSING_CLUSTER\)\n$/)
  // The same from a pipe: the spool file goes too.
  const p = await cliInProcess(['optimize', '--tmpdir', dir, '-', join(dir, 'o.vma')], { input: v.buf })
  t.equal(p.status, 1)
  t.same(files(dir), ['bad.vma'], 'no spool, no output')
})

t.test('a header that claims far more than the archive holds is refused before the index is built', async t => {
  const dir = t.testdir()
  // 254 devices of 2^47 bytes each: 2^31 clusters apiece, in an archive of a few KiB.
  const v = makeVma({
    devices: Array.from({ length: 254 }, (_, i) => ({ name: `d${i}`, size: 2 ** 47, data: Buffer.alloc(0) })),
    order: [
      { dev: 1, cluster: 5, mask: 0 },
      { dev: 200, cluster: 2 ** 30, mask: 0 },
    ],
  })
  writeFileSync(join(dir, 'huge.vma'), v.buf)
  const before = process.memoryUsage().rss
  await t.rejects(optimize(join(dir, 'huge.vma'), { dest: join(dir, 'o.vma') }), { code: 'VMA_MISSING_CLUSTER', message: /claims \d+ clusters, but \d+ bytes of archive can list at most \d+/ })
  t.ok(process.memoryUsage().rss - before < 200 << 20, 'no large allocation')
  const r = await cliInProcess(['verify', '-'], { input: v.buf })
  t.equal(r.status, 1, 'verify from a stream: missing clusters, without allocating per claimed cluster')
  t.match(r.stderr, /VMA_MISSING_CLUSTER/)
})

t.test('a digest mismatch (injected into the writer) is exit 4 (our fault, not the input) and replaces nothing', async t => {
  const dir = t.testdir()
  const devices = withData([{ name: 'drive-scsi0', size: 1 << 20 }])
  const src = join(dir, 'a.vma')
  const orig = makeVma({ devices, order: 'shuffled' }).buf
  writeFileSync(src, orig)
  const { optimize: broken } = await optimizeWithBrokenWriter(t)
  // The mocked module has its own copy of VmaError, so match on the code.
  await t.rejects(broken(src), { code: 'VMA_DIGEST_MISMATCH', exitCode: 4, message: /internal error: .*read-back check: .*content digest .* differs.*the input is not damaged/ })
  t.ok(readFileSync(src).equals(orig), 'source untouched')
  t.same(files(dir), ['a.vma'], 'temp file removed')
})

t.test('CLI: stdin to stdout, --json, and the summary line', async t => {
  const dir = t.testdir()
  const devices = withData([
    { name: 'drive-scsi0', size: 2 << 20 },
    { name: 'drive-efidisk0', size: 540672 },
  ])
  const v = makeVma({ devices, order: 'interleaved' })
  const r = await cliInProcess(['optimize', '--tmpdir', dir, '-'], { input: v.buf })
  t.equal(r.status, 0)
  t.ok(r.bytes.equals(expectedOptimized({ devices })), 'stdout carries the optimized archive')
  t.match(r.stderr, /^stdin: optimized -> stdout, .* 2 devices proven unchanged/)
  t.same(files(dir), [], 'spool removed')
  const zst = spawnSync('sh', ['-c', `zstd -q -c | '${BIN}' optimize --tmpdir '${dir}' --json - '${join(dir, 'o.vma.zst')}'`], { input: v.buf, env: cliEnv() })
  t.equal(zst.status, 0)
  const j = JSON.parse(zst.stdout.toString())
  t.equal(j.compression, 'zstd')
  t.equal(j.alreadyOptimized, false)
  t.equal(j.devices.length, 2)
  t.ok(spawnSync('zstd', ['-dcq', join(dir, 'o.vma.zst')], { maxBuffer: 64 << 20 }).stdout.equals(expectedOptimized({ devices })), 'zstd output decompresses to the optimized form')
  t.equal(zst.stderr.toString(), '', 'quiet stderr in a pipe')
  const plain = join(dir, 'p.vma')
  writeFileSync(plain, v.buf)
  const q = await cliInProcess(['optimize', '-q', plain])
  t.equal(q.status, 0)
  t.equal(q.stdout + q.stderr, '', '-q prints nothing')
  const s = await cliInProcess(['optimize', plain])
  t.match(s.stdout, /p\.vma: already optimized, left unchanged/)
})

t.test('SIGINT and SIGTERM mid-run: exit 130/143, no temp or spool files, source untouched', async t => {
  const devices = withData([{ name: 'drive-scsi0', size: 8 << 20 }])
  const v = makeVma({ devices, order: 'shuffled' })
  const root = t.testdir({ SIGINT: {}, SIGTERM: {}, inplace: {} })
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    const dir = join(root, sig)
    const child = spawn(BIN, ['optimize', '--tmpdir', dir, '-', join(dir, 'out.vma')], { env: cliEnv(), stdio: ['pipe', 'pipe', 'pipe'] })
    child.stdin.on('error', () => undefined)
    let stderr = ''
    child.stderr.on('data', d => (stderr += d))
    // Feed half the archive, wait until the spool file exists, then interrupt.
    child.stdin.write(v.buf.subarray(0, v.buf.length >> 1))
    for (let i = 0; i < 800 && !files(dir).some(f => f.endsWith('.spool')); i++) await new Promise(r => setTimeout(r, 25)) // up to 20 s: a loaded machine starts node slowly
    t.ok(
      files(dir).some(f => f.endsWith('.spool')),
      `${sig}: spool file existed mid-run`,
    )
    child.kill(sig)
    const status = await new Promise<number | null>(r => child.on('close', c => r(c)))
    t.equal(status, code, `${sig}: exit ${code} ${stderr}`)
    t.same(files(dir), [], `${sig}: nothing left behind`)
    t.match(stderr, new RegExp(`interrupted by ${sig}; removed the unfinished file \\S+\\.spool\\n`), `${sig}: says what it cleaned up`)
  }
  // In place on a file: interrupt while writing; the source stays as it was.
  const dir = join(root, 'inplace')
  const src = join(dir, 'big.vma')
  const big = makeVma({ devices: withData([{ name: 'drive-scsi0', size: 48 << 20 }]), order: 'shuffled' })
  writeFileSync(src, big.buf)
  const child = spawn(BIN, ['optimize', src], { env: cliEnv() })
  for (let i = 0; i < 4000 && !files(dir).some(f => f.endsWith('.tmp')); i++) await new Promise(r => setTimeout(r, 5))
  child.kill('SIGTERM')
  const status = await new Promise<number | null>(r => child.on('close', c => r(c)))
  t.ok(status === 143 || status === 0, `exit ${status}`)
  t.same(files(dir), ['big.vma'], 'no temp file')
  if (status === 143) t.ok(readFileSync(src).equals(big.buf), 'source untouched')
})

// --no-space-check: past the up-front check (test/space-check.test.ts), into ENOSPC itself.
t.test('no space left: exit 3, no temp or spool file, source untouched', async t => {
  const root = t.testdir({ small: {} })
  const small = join(root, 'small')
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', small])
  if (m.status !== 0) {
    skipHere(t, `cannot mount a small tmpfs here: ${m.stderr}`)
    return
  }
  try {
    // Random data: every block is stored, so the archive is as large as the disk.
    const v = makeVma({ devices: [{ name: 'drive-scsi0', size: 4 << 20, data: randomBytes(4 << 20) }], order: 'shuffled' })
    const big = join(root, 'big.vma')
    writeFileSync(big, v.buf)
    // The output does not fit.
    // The error names the destination, not its hidden temp file (issue 25).
    await t.rejects(optimize(big, { dest: join(small, 'out.vma'), noSpaceCheck: true }), { code: 'VMA_NO_SPACE', message: /^cannot write \S+\/small\/out\.vma: no space left on device$/ })
    t.same(files(small), [], 'no temp file in the full directory')
    // The spool does not fit (compressed input, spool on the small file system).
    spawnSync('zstd', ['-q', '-k', big])
    await t.rejects(optimize(`${big}.zst`, { dest: join(root, 'out.vma'), tmpdir: small, spool: true, noSpaceCheck: true }), { code: 'VMA_NO_SPACE' })
    t.same(files(small), [], 'no spool file left')
    t.notOk(existsSync(join(root, 'out.vma')))
    // In place, on a file system with room for the source but not for a second copy.
    const inPlace = join(small, 'a.vma')
    const fits = makeVma({ devices: [{ name: 'drive-scsi0', size: 2 << 20, data: randomBytes(2 << 20) }], order: 'shuffled' }).buf
    writeFileSync(inPlace, fits)
    const r = await cliInProcess(['optimize', '--no-space-check', inPlace])
    t.equal(r.status, 3, 'exit 3')
    t.match(r.stderr, /cannot write \S+\/small\/a\.vma: no space left on device \(VMA_NO_SPACE\)\n$/)
    t.notMatch(r.stderr, /\.tmp/, 'the temp file is not what the user is told about')
    t.same(files(small), ['a.vma'])
    t.ok(readFileSync(inPlace).equals(fits), 'source untouched')
  } finally {
    spawnSync('umount', [small])
  }
})

t.test('missing compressor for the output is exit 3 with the package to install', async t => {
  const dir = t.testdir()
  writeFileSync(join(dir, 'a.vma'), makeVma({ devices: withData([{ name: 'd', size: 65536 }]) }).buf)
  copyFileSync(process.execPath, join(dir, 'node'))
  const r = spawnSync(join(dir, 'node'), [BIN.replace(/vma-opt$/, 'vma-opt'), 'optimize', join(dir, 'a.vma'), join(dir, 'b.vma.lzo')], {
    env: { ...cliEnv(), PATH: dir, VMA_OPT_SYSTEM_DIRS: '' },
  })
  t.equal(r.status, 3)
  t.match(r.stderr.toString(), /needs the 'lzop' program, which is not installed \(Debian package: lzop\) \(VMA_TOOL_MISSING\)/)
  t.notOk(existsSync(join(dir, 'b.vma.lzo')))
})

t.test('a legacy vmstate stream is carried through in sequence', async t => {
  const dir = t.testdir()
  const scsi = makeContent(1 << 20, 1)
  for (const clusters of [5, 59, 118, 130]) {
    const state = makeContent(clusters * 65536, clusters)
    const devices = [
      { name: 'drive-scsi0', size: scsi.length, data: scsi },
      { name: 'vmstate', size: state.length, data: state },
    ]
    writeFileSync(join(dir, 'a.vma'), makeVma({ devices, order: 'interleaved' }).buf)
    const r = await optimize(join(dir, 'a.vma'), { dest: join(dir, 'b.vma'), force: true })
    t.ok(r.written && r.checked, `${clusters} vmstate clusters: optimized and proven`)
    t.ok(readFileSync(join(dir, 'b.vma')).equals(expectedOptimized({ devices })), 'in the spec form')
    t.equal((await optimize(join(dir, 'b.vma'))).written, false, 'and recognised as optimized')
  }
})

t.test('DEST may be a directory, as with cp', async t => {
  const dir = t.testdir({ out: {} })
  writeFileSync(join(dir, 'a.vma'), makeVma({ devices: withData([{ name: 'd', size: 65536 }]) }).buf)
  await optimize(join(dir, 'a.vma'), { dest: join(dir, 'out') })
  t.same(files(join(dir, 'out')), ['a.vma'])
  await t.rejects(optimize('-', { dest: join(dir, 'out'), stdin: Readable.from([readFileSync(join(dir, 'a.vma'))]) }), { code: 'VMA_USAGE' })
})

t.test('fuzz: damaged inputs are refused or optimized faithfully, never half-written', async t => {
  const dir = t.testdir()
  const devices = withData([
    { name: 'drive-scsi0', size: 700 * 1024 },
    { name: 'drive-efidisk0', size: 540672 },
  ])
  const v = makeVma({ devices, order: 'shuffled', seed: 3 })
  const { rng } = await import('./fixtures/make-vma.js')
  const { inspectArchive } = await import('../src/check/inspect.js')
  const r = rng(77)
  let refused = 0
  for (let i = 0; i < 60; i++) {
    const b = Buffer.from(v.buf)
    for (let k = 0; k < 3; k++) b[Math.floor(r() * b.length)]! ^= 1 + Math.floor(r() * 255)
    writeFileSync(join(dir, 'in.vma'), b)
    try {
      await optimize(join(dir, 'in.vma'), { dest: join(dir, 'out.vma') })
    } catch (e) {
      t.ok((e as { code?: string }).code?.startsWith('VMA_'), `refused with ${(e as { code?: string }).code}`)
      t.notOk(existsSync(join(dir, 'out.vma')), 'no output')
      t.same(files(dir), ['in.vma'], 'no temp files')
      refused++
      continue
    }
    // Accepted: only data bytes were hit (VMA has no data checksum); the content must be carried over exactly.
    const a = await inspectArchive(join(dir, 'in.vma'), { digest: true })
    const o = await inspectArchive(join(dir, 'out.vma'), { digest: true })
    t.same(
      o.devices.map(d => d.digest),
      a.devices.map(d => d.digest),
      'same content',
    )
    spawnSync('rm', [join(dir, 'out.vma')])
  }
  t.ok(refused > 0, `${refused} of 60 refused`)
})

t.test('compressed output is deterministic: zstd, gzip and lzop (whose time stamp is zeroed)', async t => {
  const dir = t.testdir()
  const devices = withData([{ name: 'drive-scsi0', size: 1 << 20 }])
  writeFileSync(join(dir, 'a.vma'), makeVma({ devices, order: 'shuffled', seed: 1 }).buf)
  writeFileSync(join(dir, 'b.vma'), makeVma({ devices, order: 'interleaved', seed: 2 }).buf)
  for (const ext of ['zst', 'gz', 'lzo']) {
    await optimize(join(dir, 'a.vma'), { dest: join(dir, `a.vma.${ext}`) })
    if (ext === 'lzo') await new Promise(r => setTimeout(r, 1100)) // lzop's time stamp has one-second steps
    await optimize(join(dir, 'b.vma'), { dest: join(dir, `b.vma.${ext}`) })
    t.ok(readFileSync(join(dir, `a.vma.${ext}`)).equals(readFileSync(join(dir, `b.vma.${ext}`))), `.${ext}: identical files`)
  }
  const test = spawnSync('lzop', ['-t', join(dir, 'a.vma.lzo')])
  t.equal(test.status, 0, 'the patched lzop header passes lzop -t')
})

t.test('compressed input: read again per device, or spooled when too far out of order', async t => {
  const dir = t.testdir()
  const devices = withData([
    { name: 'drive-scsi0', size: 3 << 20 },
    { name: 'drive-scsi1', size: 2 << 20 },
    { name: 'drive-efidisk0', size: 540672 },
  ])
  const want = expectedOptimized({ devices })
  writeFileSync(join(dir, 'a.vma'), makeVma({ devices, order: 'shuffled' }).buf)
  spawnSync('zstd', ['-q', join(dir, 'a.vma')])
  for (const [label, o] of [
    ['read again per device', {}],
    ['spooled (--spool)', { spool: true }],
    ['spooled (too far out of order for the hold limit)', { holdLimit: 64 * 1024 }],
  ] as const) {
    const r = await optimize(join(dir, 'a.vma.zst'), { dest: join(dir, 'out.vma'), tmpdir: dir, force: true, ...o })
    t.ok(r.checked, `${label}: proven`)
    t.ok(readFileSync(join(dir, 'out.vma')).equals(want), `${label}: the optimized form`)
    t.same(files(dir), ['a.vma', 'a.vma.zst', 'out.vma'], `${label}: no spool left`)
  }
})
