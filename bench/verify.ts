// verify on a 2 GiB archive, as a ratio to `cat FILE > /dev/null` in the same
// run: from the file (headers only, and all data) and from stdin. Measured
// with a warm page cache, and with a cold one where this machine lets us drop
// it (root): the cold numbers are what a fresh backup on disk sees.
import { existsSync, writeFileSync } from 'node:fs'
import { GIB, RUNS, benchArchive, best, measured, row, sh, size } from './common.js'

const file = await benchArchive()
const canDrop = (() => {
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3')
    return true
  } catch {
    return false
  }
})()
const modes: [string, string][] = [['warm page cache', `cat '${file}' > /dev/null`]]
if (canDrop && existsSync('/proc/sys/vm/drop_caches')) modes.push(['cold page cache', 'sync && echo 3 > /proc/sys/vm/drop_caches'])
console.log(`verify, ${(size(file) / 2 ** 30).toFixed(2)} GiB archive (VMA_BENCH_GIB=${GIB}), best of ${RUNS}`)
for (const [label, before] of modes) {
  sh(before)
  const cat = best(`cat '${file}' > /dev/null`, before)
  const catPipe = best(`cat '${file}' | cat > /dev/null`, before)
  const [fileHeaders, rss1] = measured(`verify -q '${file}'`, undefined, before)
  const [fileData, rss2] = measured(`verify -q --data '${file}'`, undefined, before)
  const [stdin, rss3] = measured(`verify -q -`, file, before)
  console.log(`\n${label}:`)
  console.log(row('cat FILE > /dev/null (baseline)', cat, cat))
  console.log(row('vma-opt verify FILE (headers)', fileHeaders, cat, `  peak RSS ${rss1.toFixed(0)} MB`))
  console.log(row('vma-opt verify --data FILE', fileData, cat, `  peak RSS ${rss2.toFixed(0)} MB`))
  console.log(row('cat FILE | cat > /dev/null (pipe cost alone)', catPipe, cat))
  console.log(row('cat FILE | vma-opt verify -', stdin, cat, `  peak RSS ${rss3.toFixed(0)} MB`))
}
