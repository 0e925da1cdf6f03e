// optimize --trim against optimize on the same plain archive, as ratios to
// `cp` + `sync` of that file in the same run, with peak RSS. The archive
// holds a Linux disk built with the real tools (bench/linux-disk.ts): GPT,
// ext4 with files, swap, old data everywhere else. VMA_BENCH_GIB sets its size.
import { existsSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, DATA, GIB, RUNS, race, sh, size, table } from './common.js'
import { buildLinuxDisk } from './linux-disk.js'

mkdirSync(DATA, { recursive: true })
const file = join(DATA, `trim-${GIB}g.vma`)
if (!existsSync(file)) {
  process.stderr.write(`building ${file} ...\n`)
  const img = join(DATA, 'trim-disk.img')
  buildLinuxDisk(img, Math.round(GIB * 1024), join(DATA, 'trim-work'))
  sh(`'${BIN}' pack -q '${file}' --disk drive-scsi0='${img}'`)
  rmSync(img)
}
const out = join(DATA, 'out.vma')
const copy = join(DATA, 'copy.vma')
sh(`cat '${file}' > /dev/null`)
console.log(`optimize --trim, ${(size(file) / 2 ** 30).toFixed(2)} GiB archive of one Linux disk (VMA_BENCH_GIB=${GIB}), warm page cache, median of ${RUNS} round-robin runs`)
table(
  race([
    { label: 'cp FILE COPY && sync COPY (baseline)', cmd: `cp '${file}' '${copy}' && sync '${copy}'`, setup: `rm -f '${copy}'` },
    { label: 'vma-opt optimize FILE OUT', cmd: `optimize -q '${file}' '${out}'`, vmaOpt: true, setup: `rm -f '${out}'` },
    { label: 'vma-opt optimize --trim FILE OUT', cmd: `optimize -q --trim '${file}' '${out}'`, vmaOpt: true, setup: `rm -f '${out}'` },
    { label: 'vma-opt info --free-space FILE (dry run)', cmd: `info --free-space '${file}'`, vmaOpt: true },
  ]),
)
sh(`rm -f '${out}' && '${BIN}' optimize -q --trim '${file}' '${out}'`)
console.log(`size: ${(size(file) / 2 ** 20).toFixed(0)} MiB -> ${(size(out) / 2 ** 20).toFixed(0)} MiB after --trim`)
rmSync(out, { force: true })
rmSync(copy, { force: true })
