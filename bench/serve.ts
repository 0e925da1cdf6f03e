// serve: copying the largest disk out through NBD (`qemu-img convert` from
// `vma-opt serve`, plain and optimized archive) as a ratio to `vma-opt cat`
// of the same disk into a file, in the same run; and how long serve takes
// to be ready (check + index) on each. Warm page cache.
import { spawn } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, DATA, GIB, RUNS, benchArchive, race, row, sh, size, table } from './common.js'

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
