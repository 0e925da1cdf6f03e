// unpack and pack on a 2 GiB archive, as ratios to `cp` of the same bytes in
// the same run. unpack is compared with copying the archive; pack with
// copying the unpacked images (sparse-aware cp, as the images are sparse).
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, DATA, GIB, RUNS, benchArchive, race, sh, size, table } from './common.js'

const file = await benchArchive()
const dir = join(DATA, 'unpacked')
const copyDir = join(DATA, 'copied')
const fresh = join(DATA, 'unpacked-again')
const out = join(DATA, 'packed.vma')
rmSync(dir, { recursive: true, force: true })
sh(`'${BIN}' unpack -q '${file}' '${dir}'`)
sh(`cat '${file}' '${dir}'/* > /dev/null`) // warm the page cache for every contender alike
console.log(`unpack and pack, ${(size(file) / 2 ** 30).toFixed(2)} GiB archive (VMA_BENCH_GIB=${GIB}), warm page cache, best of ${RUNS}, round-robin`)
table(
  race([
    { label: 'cp FILE COPY && sync (baseline)', cmd: `cp '${file}' '${out}' && sync '${out}'`, setup: `rm -f '${out}'` },
    { label: 'vma-opt unpack FILE DIR', cmd: `unpack -q '${file}' '${fresh}'`, vmaOpt: true, setup: `rm -rf '${fresh}'` },
    { label: 'cat FILE | vma-opt unpack - DIR', cmd: `unpack -q - '${fresh}'`, vmaOpt: true, stdinFrom: file, setup: `rm -rf '${fresh}'` },
    { label: 'cp -r IMAGES COPY && sync (baseline for pack)', cmd: `cp -r --sparse=always '${dir}' '${copyDir}' && sync`, setup: `rm -rf '${copyDir}'` },
    { label: 'vma-opt pack DIR OUT', cmd: `pack -q '${dir}' '${out}'`, vmaOpt: true, setup: `rm -f '${out}'` },
  ]),
)
rmSync(dir, { recursive: true, force: true })
rmSync(copyDir, { recursive: true, force: true })
rmSync(fresh, { recursive: true, force: true })
rmSync(out, { force: true })
