// verify on a 2 GiB archive, as a ratio to `cat FILE > /dev/null` in the same
// run: from the file (headers only, and all data) and from stdin. Measured
// with a warm page cache, and with a cold one where this machine lets us drop
// it (root): the cold numbers are what a backup on disk sees.
import { writeFileSync } from 'node:fs'
import { GIB, RUNS, benchArchive, race, sh, size, table } from './common.js'

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
if (canDrop) modes.push(['cold page cache', 'sync && echo 3 > /proc/sys/vm/drop_caches'])
console.log(`verify, ${(size(file) / 2 ** 30).toFixed(2)} GiB archive (VMA_BENCH_GIB=${GIB}), median of ${RUNS}, round-robin`)
for (const [label, before] of modes) {
  sh(before)
  console.log(`\n${label}:`)
  table(
    race(
      [
        { label: 'cat FILE > /dev/null (baseline)', cmd: `cat '${file}' > /dev/null` },
        { label: 'vma-opt verify FILE (headers)', cmd: `verify -q '${file}'`, vmaOpt: true },
        { label: 'vma-opt verify --data FILE', cmd: `verify -q --data '${file}'`, vmaOpt: true },
        { label: 'cat FILE | cat > /dev/null (pipe cost alone)', cmd: `cat '${file}' | cat > /dev/null` },
        { label: 'cat FILE | vma-opt verify -', cmd: 'verify -q -', vmaOpt: true, stdinFrom: file },
      ],
      before,
    ),
  )
}
