// apply of a full archive plus one delta, as a ratio to optimize of the same
// full archive in the same run (the goal: at most 1.3x), and diff for
// reference. The second archive is the bench archive a day later: the same
// disks with about 1% of the clusters changed, in Proxmox's order again.
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { writeSampleArchive } from '../src/sample/sample-archive.js'
import { BIN, DATA, GIB, RUNS, benchArchive, race, sh, size, table } from './common.js'

const file = await benchArchive()
// The disks of benchArchive(), generated again with a few clusters changed.
const disk = Math.ceil((GIB * 2 ** 30) / 0.7 / 65536) * 65536
const next = join(DATA, `bench-${GIB}g-next.vma`)
if (!existsSync(next)) {
  process.stderr.write(`building ${next} ...\n`)
  await writeSampleArchive(next, {
    devices: [
      { name: 'drive-efidisk0', size: 540672 },
      { name: 'drive-scsi0', size: Math.floor((disk * 0.75) / 65536) * 65536 },
      { name: 'drive-scsi1', size: Math.floor((disk * 0.25) / 65536) * 65536 },
    ],
    fill: 0.9,
    seed: 7,
    orderSeed: 8,
    changed: (_dev, c) => c % 97 === 5,
  })
}
const delta = join(DATA, 'next.vma-delta')
const out = join(DATA, 'out.vma')
sh(`rm -f '${delta}' && '${BIN}' diff -q '${file}' '${next}' '${delta}'`)
sh(`cat '${file}' '${next}' '${delta}' > /dev/null`) // warm the page cache for every contender alike
console.log(`apply, ${(size(file) / 2 ** 30).toFixed(2)} GiB full archive + ${(size(delta) / 2 ** 20).toFixed(1)} MiB delta (VMA_BENCH_GIB=${GIB}), warm page cache, best of ${RUNS}, round-robin`)
table(
  race([
    { label: 'vma-opt optimize FULL OUT', cmd: `optimize -q '${file}' '${out}'`, vmaOpt: true, setup: `rm -f '${out}'` },
    { label: 'vma-opt apply FULL DELTA OUT', cmd: `apply -q '${file}' '${delta}' '${out}'`, vmaOpt: true, setup: `rm -f '${out}'` },
    { label: 'vma-opt diff FULL NEXT DELTA', cmd: `diff -q '${file}' '${next}' '${delta}'`, vmaOpt: true, setup: `rm -f '${delta}'` },
  ]),
)
rmSync(out, { force: true })
