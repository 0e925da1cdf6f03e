// serve: copying the largest disk out through NBD (`qemu-img convert` from
// `vma-opt serve`, plain and optimized archive) as a ratio to `vma-opt cat`
// of the same disk into a file, in the same run; and how long serve takes
// to be ready (check + index) on each. Warm page cache. Then start-up on a
// 100 GiB optimized archive (issue #14: "well under a second"), built here
// from a disk that is mostly empty so that it fits any machine: its index
// has every one of the 1.6 million clusters and 27,770 extent headers.
import { spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, renameSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, DATA, GIB, RUNS, benchArchive, median, race, row, sh, size, table } from './common.js'
import { emitOptimized, type ClusterReader } from '../src/archive/emit.js'
import { CLUSTER_SIZE, OPTIMIZED_UUID, SLOTS_PER_EXTENT } from '../src/format/constants.js'
import { parseUuid } from '../src/format/uuid.js'

const file = await benchArchive()
const optimized = join(DATA, `bench-${GIB}g-optimized.vma`)
if (!existsSync(optimized)) sh(`'${BIN}' optimize -q '${file}' '${optimized}'`)
const out = join(DATA, 'disk.raw')
const disk = 'drive-scsi0'
sh(`cat '${file}' '${optimized}' > /dev/null`) // warm the page cache for every contender alike

/** Starts serve and resolves once it prints its exports, with the seconds that took. */
async function startServe(archive: string, sock: string): Promise<{ stop: () => void; seconds: number }> {
  const t0 = process.hrtime.bigint()
  const child = spawn(BIN, ['serve', '-q', archive, '--socket', sock], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', d => String(d).includes('nbd+unix') && resolve())
    child.on('close', code => reject(new Error(`serve exited ${code}`)))
  })
  return { stop: () => child.kill('SIGTERM'), seconds: Number(process.hrtime.bigint() - t0) / 1e9 }
}

const sockPlain = join(DATA, 'plain.sock')
const sockOpt = join(DATA, 'opt.sock')
rmSync(sockPlain, { force: true })
rmSync(sockOpt, { force: true })
const plain = await startServe(file, sockPlain)
const opt = await startServe(optimized, sockOpt)
const nbd = (sock: string) => `'nbd+unix:///${disk}?socket=${sock}'`
console.log(`serve, ${(size(file) / 2 ** 30).toFixed(2)} GiB archive (VMA_BENCH_GIB=${GIB}), ${disk}, warm page cache, best of ${RUNS}, round-robin`)
try {
  table(
    race([
      { label: `vma-opt cat FILE ${disk} > RAW (baseline)`, cmd: `cat '${file}' ${disk} > '${out}'`, vmaOpt: true, setup: `rm -f '${out}'` },
      { label: 'qemu-img convert NBD RAW (plain archive)', cmd: `qemu-img convert -f raw -O raw ${nbd(sockPlain)} '${out}'`, setup: `rm -f '${out}'` },
      { label: 'qemu-img convert NBD RAW (optimized)', cmd: `qemu-img convert -f raw -O raw ${nbd(sockOpt)} '${out}'`, setup: `rm -f '${out}'` },
      { label: 'qemu-img convert -O qcow2 NBD (optimized)', cmd: `qemu-img convert -f raw -O qcow2 ${nbd(sockOpt)} '${out}'`, setup: `rm -f '${out}'` },
    ]),
  )
  console.log('\nready to serve (check + index), seconds from start:')
  console.log(row('vma-opt serve FILE (plain archive)', plain.seconds, plain.seconds))
  console.log(row('vma-opt serve OPTIMIZED', opt.seconds, plain.seconds))
} finally {
  plain.stop()
  opt.stop()
  rmSync(out, { force: true })
}

/** An optimized archive of one 100 GiB disk with 64 MiB of data at four places, written without reading 100 GiB. */
async function hugeArchive(): Promise<string> {
  const path = join(DATA, 'huge-100g.vma')
  if (existsSync(path)) return path
  const size = 100 * 2 ** 30
  const clusters = size / CLUSTER_SIZE
  const dataAt = [0, 7, 33, 90].map(g => (g * 2 ** 30) / CLUSTER_SIZE)
  const reader: ClusterReader = {
    bufferSize: SLOTS_PER_EXTENT * CLUSTER_SIZE,
    async read(_d, first, n, buf, masks, pos) {
      for (let i = 0; i < n; i++) {
        const c = first + i
        const full = dataAt.some(a => c >= a && c < a + 1024)
        masks[i] = full ? 0xffff : 0
        pos[i] = i * CLUSTER_SIZE
        if (full) buf.fill((c % 251) + 1, i * CLUSTER_SIZE, (i + 1) * CLUSTER_SIZE)
      }
    },
  }
  const fd = openSync(`${path}.tmp`, 'w')
  const devices = [{ id: 1, name: 'drive-scsi0', size, clusters, vmstate: false }]
  await emitOptimized({ uuid: parseUuid(OPTIMIZED_UUID), ctime: 1700000000, configs: [{ name: 'qemu-server.conf', data: Buffer.from('memory: 2048\n') }], devices }, devices, reader, {
    write: async b => void writeSync(fd, b),
  })
  closeSync(fd)
  renameSync(`${path}.tmp`, path)
  return path
}

const huge = await hugeArchive()
sh(`cat '${huge}' > /dev/null`)
const startups: number[] = []
const floor: number[] = []
for (let r = 0; r < RUNS; r++) {
  const sock = join(DATA, 'huge.sock')
  rmSync(sock, { force: true })
  const s = await startServe(huge, sock)
  s.stop()
  startups.push(s.seconds)
  floor.push(sh(`'${BIN}' --version`))
}
console.log(`\nstart-up on a 100 GiB optimized archive (${(size(huge) / 2 ** 20).toFixed(0)} MiB on disk, 1,638,400 clusters), median of ${RUNS}:`)
console.log(row('vma-opt --version (node and the CLI alone)', median(floor), median(floor)))
console.log(row('vma-opt serve HUGE: ready to serve', median(startups), median(floor)))
