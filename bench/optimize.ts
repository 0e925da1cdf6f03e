// optimize on a 2 GiB interleaved, out-of-order archive, as a ratio to `cp`
// of the same file in the same run; plain and .zst input; peak RSS.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { DATA, GIB, RUNS, benchArchive, best, measured, row, sh, size } from './common.js'

const file = await benchArchive()
const zst = `${file}.zst`
const out = join(DATA, 'out.vma')
const copy = join(DATA, 'copy.vma')
sh(`[ -e '${zst}' ] || zstd -q -T2 -c '${file}' > '${zst}'`)
sh(`cat '${file}' '${zst}' > /dev/null`) // warm the page cache for every contender alike
const cp = best(`cp '${file}' '${copy}' && sync '${copy}'`)
const [plain, rss1] = measured(`optimize -q '${file}' '${out}'`)
const [fromZst, rss2] = measured(`optimize -q '${zst}' '${out}'`)
const [fromPipe, rss3] = measured(`optimize -q --tmpdir '${DATA}' - '${out}'`, file)
const [inPlace, rss4] = measured(`optimize -q '${out}'`)
rmSync(copy, { force: true })
console.log(`optimize, ${(size(file) / 2 ** 30).toFixed(2)} GiB archive (VMA_BENCH_GIB=${GIB}), warm page cache, best of ${RUNS}`)
console.log(row('cp FILE COPY && sync COPY (baseline)', cp, cp))
// optimize fsyncs its output too, so the baseline syncs the copy.
console.log(row('vma-opt optimize FILE OUT', plain, cp, `  peak RSS ${rss1.toFixed(0)} MB`))
console.log(row('vma-opt optimize FILE.zst OUT', fromZst, cp, `  peak RSS ${rss2.toFixed(0)} MB`))
console.log(row('cat FILE | vma-opt optimize - OUT (spooled)', fromPipe, cp, `  peak RSS ${rss3.toFixed(0)} MB`))
console.log(row('vma-opt optimize OUT (already optimized)', inPlace, cp, `  peak RSS ${rss4.toFixed(0)} MB`))
rmSync(out, { force: true })
