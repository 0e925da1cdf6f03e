// unpack on a 2 GiB archive, as a ratio to `cp` of the archive in the same
// run, from the file and from a pipe.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { DATA, GIB, RUNS, benchArchive, race, sh, size, table } from './common.js'

const file = await benchArchive()
const out = join(DATA, 'copy.vma')
const dir = join(DATA, 'unpacked-again')
sh(`cat '${file}' > /dev/null`) // warm the page cache for every contender alike
console.log(`unpack, ${(size(file) / 2 ** 30).toFixed(2)} GiB archive (VMA_BENCH_GIB=${GIB}), warm page cache, median of ${RUNS}, round-robin`)
table(
  race([
    { label: 'cp FILE COPY && sync (baseline)', cmd: `cp '${file}' '${out}' && sync '${out}'`, setup: `rm -f '${out}'` },
    { label: 'vma-opt unpack FILE DIR', cmd: `unpack -q '${file}' '${dir}'`, vmaOpt: true, setup: `rm -rf '${dir}'` },
    { label: 'cat FILE | vma-opt unpack - DIR', cmd: `unpack -q - '${dir}'`, vmaOpt: true, stdinFrom: file, setup: `rm -rf '${dir}'` },
  ]),
)
rmSync(dir, { recursive: true, force: true })
rmSync(out, { force: true })
