// pack of the images unpacked from a 2 GiB archive, as a ratio to `cp` of
// the archive (the same bytes out) and to copying the images themselves.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, DATA, GIB, RUNS, benchArchive, race, sh, size, table } from './common.js'

const file = await benchArchive()
const images = join(DATA, 'unpacked')
const copyDir = join(DATA, 'copied')
const out = join(DATA, 'packed.vma')
rmSync(images, { recursive: true, force: true })
sh(`'${BIN}' unpack -q '${file}' '${images}'`)
sh(`cat '${file}' '${images}'/* > /dev/null`) // warm the page cache for every contender alike
console.log(`pack, images of a ${(size(file) / 2 ** 30).toFixed(2)} GiB archive (VMA_BENCH_GIB=${GIB}), warm page cache, median of ${RUNS}, round-robin`)
table(
  race([
    { label: 'cp ARCHIVE COPY && sync (baseline)', cmd: `cp '${file}' '${out}' && sync '${out}'`, setup: `rm -f '${out}'` },
    { label: 'cp -r IMAGES COPY && sync', cmd: `cp -r --sparse=always '${images}' '${copyDir}' && sync`, setup: `rm -rf '${copyDir}'` },
    { label: 'vma-opt pack DIR OUT', cmd: `pack -q '${images}' '${out}'`, vmaOpt: true, setup: `rm -f '${out}'` },
  ]),
)
rmSync(images, { recursive: true, force: true })
rmSync(copyDir, { recursive: true, force: true })
rmSync(out, { force: true })
