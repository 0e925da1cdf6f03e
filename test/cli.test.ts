// The command line as users run it: spawned, with files, pipes and stdin;
// and in-process through runCli() for the cases that need no process.

process.env.TZ = 'UTC'
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { runCli } from '../src/cli/main.js'
import { makeVma } from './fixtures/make-vma.js'
import { BIN, SHARED, cliEnv, expected, haveShared } from './helpers.js'

function run(args: string[], input?: Buffer) {
  return spawnSync(BIN, args, { input, env: cliEnv({ TZ: 'UTC' }), maxBuffer: 64 << 20 })
}

async function inProcess(args: string[], stdin?: Buffer) {
  const out = new PassThrough()
  const err = new PassThrough()
  const chunks: Buffer[] = []
  const echunks: Buffer[] = []
  out.on('data', c => chunks.push(c))
  err.on('data', c => echunks.push(c))
  const io = { stdout: out, stderr: err, stdin: stdin ? PassThrough.from([stdin]) : undefined }
  const code = await runCli(args, io as never)
  return { code, stdout: Buffer.concat(chunks).toString(), stderr: Buffer.concat(echunks).toString() }
}

t.test('usage errors exit 2 with a hint', async t => {
  for (const args of [[], ['frobnicate'], ['verify'], ['info', 'a', 'b'], ['info', '--bogus', 'x']]) {
    const r = await inProcess(args)
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`)
    t.match(r.stderr, /vma-opt --help/)
  }
  const spawned = run(['verify'])
  t.equal(spawned.status, 2)
})

t.test('--help and --version', async t => {
  const r = run(['--help'])
  t.equal(r.status, 0)
  t.match(r.stdout.toString(), /info <src>/)
  t.match(r.stdout.toString(), /verify <src>/)
  t.match(r.stdout.toString(), /Exit status/)
  const v = run(['--version'])
  t.equal(v.stdout.toString().trim(), JSON.parse(readFileSync(join(BIN, '..', '..', 'package.json'), 'utf8')).version)
  const sub = await inProcess(['verify', '--help'])
  t.equal(sub.code, 0)
  t.match(sub.stdout, /--json/)
})

t.test('missing file: exit 3, one line', async t => {
  const r = run(['info', '/nonexistent/x.vma'])
  t.equal(r.status, 3)
  t.match(r.stderr.toString(), /^vma-opt: cannot open \/nonexistent\/x.vma: no such file or directory \(VMA_IO\)\n$/)
  const d = run(['verify', '/tmp'])
  t.equal(d.status, 3, 'a directory')
})

t.test('info and verify on a built archive, from a path and from stdin', async t => {
  const v = makeVma({
    devices: [
      { name: 'drive-scsi0', size: 1 << 20 },
      { name: 'drive-efidisk0', size: 540672 },
    ],
    order: 'interleaved',
  })
  const dir = t.testdir()
  const file = join(dir, 'x.vma')
  writeFileSync(file, v.buf)
  // From a path in process (node is slow to start here); from stdin spawned, as users pipe into it.
  const both = async (args: string[], input?: Buffer) => {
    if (input) return run(args, input)
    const r = await inProcess(args)
    return { status: r.code, stdout: r.stdout, stderr: r.stderr }
  }
  for (const [label, args, input] of [
    ['path', [file], undefined],
    ['stdin', ['-'], v.buf],
  ] as const) {
    const info = await both(['info', '--json', ...args], input)
    t.equal(info.status, 0, `${label}: info exit 0`)
    const j = JSON.parse(info.stdout.toString())
    t.same(
      j.devices.map((d: { name: string; size: number }) => [d.name, d.size]),
      [
        ['drive-scsi0', 1 << 20],
        ['drive-efidisk0', 540672],
      ],
    )
    t.equal(j.sorted, false)
    t.equal(j.optimized, false)
    t.equal(j.size, v.buf.length)
    t.equal(info.stderr.toString(), '', `${label}: nothing on stderr in a pipe`)
    const ver = await both(['verify', ...args], input)
    t.equal(ver.status, 0)
    t.match(ver.stdout.toString(), /ok: 2 devices, 25 clusters/)
    const human = await both(['info', ...args], input)
    t.match(human.stdout.toString(), /drive-efidisk0 +540,672 bytes \(528 KiB\), 9 clusters/)
    t.match(human.stdout.toString(), /order: +not sorted/)
  }
})

t.test('verify --json lists every problem and exits 1', async t => {
  const order = [
    { dev: 1, cluster: 0 },
    { dev: 1, cluster: 0 },
    { dev: 3, cluster: 0, mask: 0 },
  ]
  const v = makeVma({ devices: [{ name: 'drive-scsi0', size: 3 * 65536 }], order })
  const r = run(['verify', '--json', '-'], v.buf)
  t.equal(r.status, 1)
  const j = JSON.parse(r.stdout.toString())
  t.equal(j.ok, false)
  t.same(
    j.problems.map((p: { code: string }) => p.code),
    ['VMA_DUPLICATE_CLUSTER', 'VMA_UNKNOWN_DEVICE', 'VMA_MISSING_CLUSTER'],
  )
  t.equal(r.stderr.toString().split('\n').length, 2, 'one line on stderr')
  t.match(r.stderr.toString(), /\[and 2 more problems\]/)
})

t.test('shared fixtures through pipes, as users run them', { skip: !haveShared && 'no shared fixtures' }, async t => {
  const all = expected()
  // Every compression from stdin, in process (the stream is the same; the real pipes follow).
  for (const name of ['two-disks.vma.zst', 'two-disks.vma.gz', 'two-disks.vma.lzo', 'no-disks.vma', 'odd-size.vma']) {
    const buf = readFileSync(join(SHARED, name))
    const list = await inProcess(['info', '--list', '-'], buf)
    t.equal(list.code, 0)
    t.equal(list.stdout, all[name]!.vma_list, `${name}: --list from stdin`)
    const ver = await inProcess(['verify', '--digest', '-'], buf)
    t.equal(ver.code, 0, `${name}: verify from stdin`)
  }
  // zstdcat x.vma.zst | vma-opt verify -
  const sh = spawnSync('sh', ['-c', `zstdcat '${join(SHARED, 'two-disks.vma.zst')}' | '${BIN}' verify -`], { env: cliEnv() })
  t.equal(sh.status, 0, 'zstdcat | vma-opt verify -')
  t.match(sh.stdout.toString(), /^stdin: ok: 2 devices, 105 clusters, 2 extents \(all data read\)/)
  // vma-opt info --list stops reading after the header: a huge stream is not read to the end.
  const big = spawnSync('sh', ['-c', `(cat '${join(SHARED, 'two-disks.vma')}'; head -c 200000000 /dev/zero) | '${BIN}' info --list -`], { env: cliEnv({ TZ: 'UTC' }) })
  t.equal(big.status, 0)
  t.equal(big.stdout.toString(), all['two-disks.vma']!.vma_list)
})

t.test('in-process runCli returns the exit status of a damaged archive', async t => {
  const v = makeVma({ devices: [{ name: 'drive-scsi0', size: 65536 }] })
  const bad = Buffer.from(v.buf)
  bad[v.extents[0]! + 100]! ^= 1
  const r = await inProcess(['verify', '-'], bad)
  t.equal(r.code, 1)
  t.match(r.stderr, /^vma-opt: stdin: extent at offset 12800: md5 mismatch .*\(VMA_EXTENT_MD5\)\n$/)
})

t.test('a named pipe as SRC', async t => {
  const dir = t.testdir()
  const fifo = join(dir, 'backup.vma')
  t.equal(spawnSync('mkfifo', [fifo]).status, 0)
  const v = makeVma({ devices: [{ name: 'drive-scsi0', size: 2 << 20 }], order: 'shuffled' })
  writeFileSync(join(dir, 'src.vma'), v.buf)
  const writer = spawnSync('sh', ['-c', `cat '${join(dir, 'src.vma')}' > '${fifo}' & '${BIN}' verify --digest '${fifo}'`], { env: cliEnv() })
  t.equal(writer.status, 0, writer.stderr.toString())
  t.match(writer.stdout.toString(), /ok: 1 device, 32 clusters/)
})
