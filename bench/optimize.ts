// optimize on a 2 GiB interleaved, out-of-order archive of three disks, as
// ratios to a baseline run in the same round-robin: `cp` + `sync` for plain
// output (optimize fsyncs; in place, of an equally fresh file), `zstd -dc | zstd --rsyncable` for .zst (same
// level and threads as optimize uses). Plain, in place, .zst and piped input,
// each pass (VMA_OPT_TRACE), peak RSS; then many small devices in a .zst,
// where rereading per device would cost a pass per device (issue #10 item 10).
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { DATA, GIB, RUNS, benchArchive, race, sh, size, type Timing } from './common.js'
import { writeSampleArchive } from '../src/sample/sample-archive.js'

const file = await benchArchive()
const zst = `${file}.zst`
const out = join(DATA, 'out.vma')
const copy = join(DATA, 'copy.vma')
const inPlace = join(DATA, 'in-place.vma')
const ZSTD = 'zstd -q -c --rsyncable -T1' // what optimize runs for .zst output (src/output/output-file.ts)
sh(`[ -e '${zst}' ] || zstd -q -T2 -c '${file}' > '${zst}'`)
sh(`cat '${file}' '${zst}' > /dev/null`) // warm the page cache for every contender alike

function print(title: string, ts: Timing[], baseOf: (i: number) => number): void {
  console.log(`\n${title}`)
  console.log(`${''.padEnd(48)} pass 1  pass 2  pass 3   whole   ratio  peak RSS   runs (s)`)
  ts.forEach((t, i) => {
    const p = t.passes ? t.passes.map(x => x.toFixed(2).padStart(6)).join('  ') : ''.padStart(22)
    const rss = t.rssMB !== undefined ? `${t.rssMB.toFixed(0).padStart(5)} MB` : ''.padStart(8)
    const ratio = (t.seconds / ts[baseOf(i)]!.seconds).toFixed(2)
    console.log(`${t.label.padEnd(48)} ${p}  ${t.seconds.toFixed(2).padStart(6)}  ${ratio.padStart(5)}x  ${rss}   ${t.runs.map(r => r.toFixed(1)).join(' ')}`)
  })
}

console.log(`optimize, ${(size(file) / 2 ** 30).toFixed(2)} GiB archive of 3 interleaved disks (VMA_BENCH_GIB=${GIB}), warm page cache, median of ${RUNS}, round-robin`)
console.log('pass 1: read, check, digest (and spool); pass 2: write; pass 3: read back and compare, while the fsync runs')
const main = race([
  { label: 'cp FILE COPY && sync COPY (baseline)', cmd: `cp '${file}' '${copy}' && sync '${copy}'`, setup: `rm -f '${copy}'` },
  // The same copy through user space (read(2) + write(2)), as every program that is not cp must do it.
  { label: 'dd bs=4M FILE COPY && sync COPY', cmd: `dd if='${file}' of='${copy}' bs=4M status=none && sync '${copy}'`, setup: `rm -f '${copy}'` },
  { label: 'vma-opt optimize FILE OUT', cmd: `optimize -q '${file}' '${out}'`, vmaOpt: true, setup: `rm -f '${out}'` },
  // In place, the input is a file just written (as a backup is when the hook runs), and on this
  // VM copying a file written a few seconds ago costs twice what copying an old one does (the
  // balloon again): the baseline for in place copies an equally fresh file.
  { label: 'cp FRESH COPY && sync COPY (fresh input)', cmd: `cp '${inPlace}' '${copy}' && sync '${copy}'`, setup: `rm -f '${copy}' && cp '${file}' '${inPlace}'` },
  // What replacing a file by a durable copy of itself costs: the copy, and dropping the old file.
  { label: 'cp FRESH TMP && sync TMP && mv TMP FRESH', cmd: `cp '${inPlace}' '${copy}' && sync '${copy}' && mv '${copy}' '${inPlace}'`, setup: `rm -f '${copy}' && cp '${file}' '${inPlace}'` },
  { label: 'vma-opt optimize FRESH (in place)', cmd: `optimize -q '${inPlace}'`, vmaOpt: true, setup: `cp '${file}' '${inPlace}'` },
  { label: 'cat FILE | vma-opt optimize - OUT (spooled)', cmd: `optimize -q --tmpdir '${DATA}' - '${out}'`, vmaOpt: true, stdinFrom: file, setup: `rm -f '${out}'` },
  { label: 'zstd -dc FILE.zst | zstd --rsyncable (baseline)', cmd: `zstd -dcq '${zst}' | ${ZSTD} > '${out}.zst'`, setup: `rm -f '${out}.zst'` },
  { label: 'vma-opt optimize FILE.zst OUT.zst', cmd: `optimize -q '${zst}' '${out}.zst'`, vmaOpt: true, setup: `rm -f '${out}.zst'` },
])
print('plain and piped input (ratio to cp + sync; in place to cp + sync of a fresh file); .zst (ratio to zstd | zstd)', main, i => (i >= 3 && i <= 5 ? 3 : i < 7 ? 0 : 7))

// 80 devices of 8 MiB, interleaved, compressed: the case that was read 80 times.
const many = join(DATA, 'many-80x8m.vma.zst')
if (!existsSync(many)) {
  const plain = join(DATA, 'many-80x8m.vma')
  await writeSampleArchive(plain, { devices: Array.from({ length: 80 }, (_, i) => ({ name: `drive-scsi${i}`, size: 8 << 20 })), fill: 0.9, seed: 11 })
  sh(`zstd -q -T2 --rm '${plain}' -o '${many}'`)
}
sh(`cat '${many}' > /dev/null`)
const manyT = race([
  { label: 'zstd -dc MANY.zst | zstd --rsyncable (baseline)', cmd: `zstd -dcq '${many}' | ${ZSTD} > '${out}.zst'`, setup: `rm -f '${out}.zst'` },
  { label: 'vma-opt optimize MANY.zst OUT.zst (chosen)', cmd: `optimize -q '${many}' '${out}.zst'`, vmaOpt: true, setup: `rm -f '${out}.zst'` },
  { label: 'vma-opt optimize --spool MANY.zst OUT.zst', cmd: `optimize -q --spool '${many}' '${out}.zst'`, vmaOpt: true, setup: `rm -f '${out}.zst'` },
])
print('80 devices of 8 MiB, interleaved, .zst (ratio to zstd | zstd)', manyT, () => 0)
for (const f of [out, `${out}.zst`, copy, inPlace]) rmSync(f, { force: true })
