// npm run demo: makes two small Proxmox-like backups of one VM a "day" apart
// (random uuids, interleaved and out-of-order clusters, as vzdump writes
// them), then shows what vma-opt does with them. Then the headline: a guest
// disk with real filesystems (GPT, ext4 with files, swap; old deleted data
// everywhere else) on two days, packed into backups, `optimize --trim`, and
// the second day kept as a delta (diff, apply), and one file taken out of a
// backup (ls, get). Everything lands in
// ./sample/ and nothing else is touched.

import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCli } from '../cli/main.js'
import { findTool } from '../util/find-tool.js'
import { buildLinuxDisk, evolve, fileContent } from './linux-disk.js'
import { writeDemoPair } from './demo-pair.js'

const MiB = 1 << 20
const dir = join(process.cwd(), 'sample')
rmSync(dir, { recursive: true, force: true })
mkdirSync(dir, { recursive: true })
// Two nights of one VM; on the second about 1% of the clusters of drive-scsi0 changed.
const { day1, day2 } = await writeDemoPair(dir)

/** Share of the 4 KiB blocks of b that are identical at the same offset in a: what rsync or a fixed-block dedup store can reuse. */
function shared(a: string, b: string): string {
  const A = readFileSync(a)
  const B = readFileSync(b)
  let same = 0
  let all = 0
  for (let i = 0; i < B.length; i += 4096, all++) if (i + 4096 <= A.length && A.compare(B, i, i + 4096, i, i + 4096) === 0) same++
  return `${((100 * same) / all).toFixed(1)}% of its 4 KiB blocks are identical at the same offset`
}

async function show(args: string[]) {
  process.stdout.write(`\n$ vma-opt ${args.map(a => a.replace(process.cwd() + '/', '')).join(' ')}\n`)
  const code = await runCli(args)
  if (code !== 0) process.exit(code)
}

await show(['info', day1])
await show(['verify', day1])
console.log(`\nbefore optimizing, day 2 vs day 1: ${shared(day1, day2)}`)
await show(['optimize', day1])
await show(['optimize', day2])
await show(['info', day2])
console.log(`\nafter optimizing, day 2 vs day 1: ${shared(day1, day2)}`)

// --trim on a disk with real filesystems: needs the tools that build it.
const tools = ['mkfs.ext4', 'debugfs', 'sgdisk', 'mkswap'].filter(x => !findTool(x))
if (tools.length) {
  console.log(`\n--trim part left out: ${tools.join(', ')} not installed (Debian: e2fsprogs, gdisk, util-linux)`)
} else {
  const rel = (p: string) => p.replace(process.cwd() + '/', '')
  const mib = (p: string) => `${(statSync(p).size / 2 ** 20).toFixed(1)} MiB`
  const img1 = join(dir, 'linux-disk-day1.raw')
  const img2 = join(dir, 'linux-disk-day2.raw')
  console.log(
    `\nA Linux guest disk built with mkfs.ext4, sgdisk and mkswap (${rel(img1)}), and the same disk a day later (debugfs: files replaced, temp files written and deleted, swap pages rewritten)`,
  )
  const disk = buildLinuxDisk(img1, 64, join(dir, 'work'))
  copyFileSync(img1, img2)
  // Day 43 of evolve's schedule replaces a file of this small disk (day 1 would only churn temp files).
  evolve({ ...disk, path: img2 }, join(dir, 'work'), 43)
  const conf = join(dir, 'qemu-server.conf')
  writeFileSync(conf, 'scsi0: local:101/vm-101-disk-0.raw,size=64M\n')
  const a = join(dir, 'vzdump-qemu-101-2026_11_20-01_00_00.vma')
  const b = join(dir, 'vzdump-qemu-101-2026_11_21-01_00_00.vma')
  await show(['pack', a, '--config', conf, `--disk`, `drive-scsi0=${img1}`, '--ctime', '1795136400', '-q'])
  await show(['pack', b, '--config', conf, `--disk`, `drive-scsi0=${img2}`, '--ctime', '1795222800', '-q'])
  console.log(`\n${rel(a)}: ${mib(a)}, ${rel(b)}: ${mib(b)}`)
  await show(['compare', a, b])
  await show(['info', '--free-space', a])
  await show(['optimize', '--trim', a])
  await show(['optimize', '--trim', b])
  await show(['compare', a, b])
  console.log(`\nafter --trim: ${rel(a)}: ${mib(a)}, ${rel(b)}: ${mib(b)}`)
  const delta = join(dir, 'vzdump-qemu-101-2026_11_20-01_00_00.vma-delta')
  await show(['diff', b, a, delta])
  console.log(`\nday 1 kept as a reverse delta against day 2: ${mib(delta)} instead of ${mib(a)}`)
  const again = join(dir, 'day1-again.vma')
  await show(['apply', b, delta, again])
  const same = spawnSync('cmp', ['-s', a, again]).status === 0
  console.log(`\n${rel(again)} and ${rel(a)} are ${same ? 'identical, byte for byte' : 'DIFFERENT'}`)
  if (!same) process.exit(1)
  // The restore people do most: one file out of the backup, without root, a mount or extracting the disk.
  await show(['ls', a])
  await show(['ls', '-l', a, 'scsi0:p1:/srv'])
  const got = join(dir, 'file0.bin')
  await show(['get', a, 'scsi0:p1:/srv/file0.bin', got])
  const intact = readFileSync(got).equals(fileContent(MiB, 1))
  console.log(`\n${rel(got)} is ${intact ? 'the file as the guest wrote it, byte for byte' : 'DIFFERENT from what the guest wrote'}`)
  if (!intact) process.exit(1)
  rmSync(join(dir, 'work'), { recursive: true, force: true })
}
console.log(`\nThe archives in ${dir} are still valid VMA files; try: ./bin/vma-opt verify --digest ${day2.replace(process.cwd() + '/', '')}`)
