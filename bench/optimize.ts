// optimize on a 2 GiB interleaved, out-of-order archive, as a ratio to `cp`
// of the same file in the same run; plain, .zst and piped input; peak RSS.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, DATA, GIB, RUNS, benchArchive, race, sh, size, table } from './common.js'

const file = await benchArchive()
const zst = `${file}.zst`
const out = join(DATA, 'out.vma')
const done = join(DATA, 'done.vma')
const copy = join(DATA, 'copy.vma')
sh(`[ -e '${zst}' ] || zstd -q -T2 -c '${file}' > '${zst}'`)
sh(`'${BIN}' optimize -q '${file}' '${done}'`)
sh(`cat '${file}' '${zst}' '${done}' > /dev/null`) // warm the page cache for every contender alike
console.log(`optimize, ${(size(file) / 2 ** 30).toFixed(2)} GiB archive (VMA_BENCH_GIB=${GIB}), warm page cache, best of ${RUNS}, round-robin`)
// optimize fsyncs its output, so the baseline syncs its copy too.
table(
  race([
    { label: 'cp FILE COPY && sync COPY (baseline)', cmd: `cp '${file}' '${copy}' && sync '${copy}'`, setup: `rm -f '${copy}'` },
    { label: 'vma-opt optimize FILE OUT', cmd: `optimize -q '${file}' '${out}'`, vmaOpt: true, setup: `rm -f '${out}'` },
    { label: 'vma-opt optimize FILE.zst OUT', cmd: `optimize -q '${zst}' '${out}'`, vmaOpt: true, setup: `rm -f '${out}'` },
    { label: 'cat FILE | vma-opt optimize - OUT (spooled)', cmd: `optimize -q --tmpdir '${DATA}' - '${out}'`, vmaOpt: true, stdinFrom: file, setup: `rm -f '${out}'` },
    { label: 'vma-opt optimize OPTIMIZED (in place: no-op)', cmd: `optimize -q '${done}'`, vmaOpt: true },
  ]),
)
rmSync(out, { force: true })
rmSync(copy, { force: true })
