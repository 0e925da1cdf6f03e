// npm run demo: makes two small Proxmox-like backups of one VM a "day" apart
// (random uuids, interleaved and out-of-order clusters, as vzdump writes
// them), then shows what vma-opt does with them. Everything lands in
// ./sample/ and nothing else is touched.

import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { runCli } from '../cli/main.js'
import { writeSampleArchive } from './sample-archive.js'

const dir = join(process.cwd(), 'sample')
rmSync(dir, { recursive: true, force: true })
mkdirSync(dir, { recursive: true })
const devices = [
  { name: 'drive-efidisk0', size: 540672 },
  { name: 'drive-scsi0', size: 48 << 20 },
  { name: 'drive-scsi1', size: 16 << 20 },
]
const day1 = join(dir, 'vzdump-qemu-100-2026_11_20-01_00_00.vma')
const day2 = join(dir, 'vzdump-qemu-100-2026_11_21-01_00_00.vma')
await writeSampleArchive(day1, { devices, seed: 11, ctime: 1795136400 })
// The next day: about 1% of the clusters of drive-scsi0 changed.
await writeSampleArchive(day2, { devices, seed: 11, orderSeed: 12, ctime: 1795222800, changed: (dev, c) => dev === 2 && c % 97 === 5 })

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
console.log(`\nThe archives in ${dir} are still valid VMA files; try: ./bin/vma-opt verify --digest ${day2.replace(process.cwd() + '/', '')}`)
