// Without the zstd program, the built-in decoder (fzstd) must pass its
// output on in bounded pieces: a few hundred KB of .zst can stand for GiBs of
// a constant disk (RLE blocks), and decoding one read at once took 4.3 GB of
// RSS for 4 GiB. The archive is written by vma-opt's own writer through the
// zstd program; the reading child gets a PATH without zstd.
// VMA_FZSTD_TEST_GIB=N changes the size (default 4, as in issue #10).

import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { emitOptimized, type ClusterReader, type EmitDevice } from '../src/archive/emit.js'
import { CLUSTER_SIZE } from '../src/format/constants.js'
import { parseUuid } from '../src/format/uuid.js'
import { OPTIMIZED_UUID } from '../src/format/constants.js'
import { BIN, cliEnv } from './helpers.js'
import { needTools } from './tools.js'

const GIB = 1 << 30
const SIZE = Number(process.env.VMA_FZSTD_TEST_GIB ?? 4) * GIB
const LIMIT_KB = 150 * 1024

/** Every cluster the same 64 KiB of non-zero bytes. */
const constant: ClusterReader = {
  bufferSize: 59 * CLUSTER_SIZE,
  async read(_d: EmitDevice, _first: number, n: number, buf: Buffer, masks: Uint16Array, pos: Float64Array) {
    for (let i = 0; i < n; i++) {
      masks[i] = 0xffff
      pos[i] = i * CLUSTER_SIZE
    }
    // The buffer is filled once: nothing else writes into it.
    if (buf[0] !== 0xa5) buf.fill(0xa5)
  },
}

/** A .vma.zst of one constant disk of `size` bytes, by emitOptimized piped into zstd. */
async function writeConstantArchive(path: string, size: number): Promise<void> {
  const fd = openSync(path, 'w')
  const z = spawn('zstd', ['-q', '-c', '-1'], { stdio: ['pipe', fd, 'inherit'] })
  const stdin = z.stdin! // stdio[0] is 'pipe'
  const done = new Promise<number | null>(resolve => z.on('close', resolve))
  const sink = {
    write: (b: Uint8Array) => new Promise<void>((resolve, reject) => stdin.write(b, e => (e ? reject(e) : resolve()))),
  }
  const devices = [{ id: 1, name: 'drive-scsi0', size, clusters: size / CLUSTER_SIZE, vmstate: false }]
  const fields = { uuid: parseUuid(OPTIMIZED_UUID), ctime: 1700000000, configs: [{ name: 'qemu-server.conf', data: Buffer.from('memory: 512\n') }], devices }
  await emitOptimized(fields, devices, constant, sink)
  stdin.end()
  const code = await done
  closeSync(fd)
  if (code !== 0) throw new Error(`zstd exited ${code}`)
}

/** Runs the CLI with no zstd anywhere it looks; returns its exit status and peak RSS (kB) by /usr/bin/time. */
function runWithoutZstd(dir: string, args: string[]): { status: number | null; rssKb: number; stderr: string; stdout: string } {
  const rss = join(dir, 'rss')
  const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', rss, process.execPath, BIN, ...args], {
    env: { ...cliEnv(), PATH: dir, VMA_OPT_SYSTEM_DIRS: '', VMA_OPT_ZSTD_DECODER: 'fzstd' },
    encoding: 'utf8',
    timeout: 120_000,
  })
  const rssKb = Number(/(\d+)\s*$/.exec(existsSync(rss) ? readFileSync(rss, 'utf8') : '')?.[1] ?? NaN)
  return { status: r.status, rssKb, stderr: r.stderr, stdout: r.stdout }
}

const missing = [needTools('zstd', '/usr/bin/time')].filter(Boolean)

t.test(`a ${SIZE / GIB} GiB constant disk in a .zst is read in bounded memory by fzstd`, { skip: missing.length ? String(missing[0]) : false }, async t => {
  const dir = t.testdir()
  const archive = join(dir, 'constant.vma.zst')
  await writeConstantArchive(archive, SIZE)
  t.ok(statSync(archive).size < 2 * 1024 * 1024, `the archive is small (${statSync(archive).size} bytes)`)
  writeFileSync(join(dir, 'marker'), '') // PATH=dir: nothing runnable there

  const v = runWithoutZstd(dir, ['verify', '--data', '--json', archive])
  t.equal(v.status, 0, `verify --data succeeds: ${v.stderr}`)
  const report = JSON.parse(v.stdout || '{}') as { dataRead?: boolean; devices?: { size: number; clustersSeen: number }[] }
  t.ok(report.dataRead, 'every data block was read')
  t.same(
    report.devices?.map(d => [d.size, d.clustersSeen]),
    [[SIZE, SIZE / CLUSTER_SIZE]],
    'the whole disk came through',
  )
  t.ok(v.rssKb < LIMIT_KB, `verify --data peak RSS ${Math.round(v.rssKb / 1024)} MB < 150 MB`)
})
