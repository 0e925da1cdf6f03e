// get of one file out of a backup, as ratios to what it takes without it:
// `unpack` of the disk then `debugfs -R dump` of the file (the baseline), and
// reading the whole archive once (`cat > /dev/null`, what any restore that
// extracts pays at least). The archive holds a Linux disk built with the real
// tools (bench/linux-disk.ts: GPT, ext4 with files of 1-8 MiB in /srv, swap);
// VMA_BENCH_GIB sets its size. get from the .vma.zst is shown too: it spools
// (one decompression), the floor for a compressed backup.
import { existsSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, DATA, GIB, RUNS, race, sh, size, table } from './common.js'
import { buildLinuxDisk } from './linux-disk.js'

mkdirSync(DATA, { recursive: true })
const file = join(DATA, `get-${GIB}g.vma`)
if (!existsSync(file)) {
  process.stderr.write(`building ${file} ...\n`)
  const img = join(DATA, 'get-disk.img')
  buildLinuxDisk(img, Math.round(GIB * 1024), join(DATA, 'get-work'))
  sh(`'${BIN}' pack -q '${file}' --disk drive-scsi0='${img}'`)
  rmSync(img)
}
const zst = `${file}.zst`
if (!existsSync(zst)) sh(`zstd -q -T0 -k '${file}' -o '${zst}'`)
const dir = join(DATA, 'get-unpacked')
const out = join(DATA, 'get-out.bin')
const want = '/srv/file5.bin'
sh(`cat '${file}' '${zst}' > /dev/null`)
console.log(`get of one ${want} (6 MiB) from a ${(size(file) / 2 ** 30).toFixed(2)} GiB archive of one Linux disk (VMA_BENCH_GIB=${GIB}), warm page cache, median of ${RUNS} round-robin runs`)
table(
  race([
    {
      label: 'unpack + debugfs dump (baseline)',
      cmd: `'${BIN}' unpack -q '${file}' '${dir}' && debugfs -R 'dump ${want} ${out}' '${dir}/disk-drive-scsi0.raw?offset=1048576' 2>/dev/null`,
      setup: `rm -rf '${dir}' '${out}'`,
    },
    { label: 'cat FILE > /dev/null', cmd: `cat '${file}' > /dev/null` },
    { label: 'vma-opt get FILE scsi0:p1:PATH OUT', cmd: `get -q '${file}' scsi0:p1:${want} '${out}'`, vmaOpt: true, setup: `rm -f '${out}'` },
    { label: 'vma-opt get FILE.zst scsi0:p1:PATH OUT', cmd: `get -q '${zst}' scsi0:p1:${want} '${out}'`, vmaOpt: true, setup: `rm -f '${out}'` },
    { label: 'vma-opt ls -l FILE scsi0:p1:/srv', cmd: `ls -l '${file}' scsi0:p1:/srv`, vmaOpt: true },
  ]),
)
rmSync(dir, { recursive: true, force: true })
rmSync(out, { force: true })
