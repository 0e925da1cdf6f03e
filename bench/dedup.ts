// The table users read: how much restic, borg and rdiff store for the second
// of two backups of one VM a day apart, for the archives as vzdump wrote them
// and after vma-opt optimize, next to what really changed (the ideal).
// Backups are generated: three disks, Proxmox's interleaved and out-of-order
// cluster order, a new random uuid each, and ~1% of the data changed in a
// dozen places. VMA_BENCH_GIB sets the size (default 1).
//
// A second table asks the same for a guest disk with real filesystems
// (bench/linux-disk.ts: GPT, ext4, swap; a day of use deletes and writes
// files and churns temp files), as vzdump wrote it (Proxmox's own `vma
// create`, when ../shared has it), after optimize, and after optimize --trim.
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { DATA, ROOT } from './common.js'
import { borgAdded, rdiffDelta, resticAdded } from './dedup-clients.js'
import { compareArchives } from '../src/compare/compare.js'
import { optimize } from '../src/optimize/optimize.js'
import { diff } from '../src/delta/diff.js'
import { writeSampleArchive } from '../src/sample/sample-archive.js'
import { buildLinuxDisk, evolve } from './linux-disk.js'

const gib = Number(process.env.VMA_BENCH_GIB ?? 1)
const dir = join(DATA, 'dedup')
rmSync(dir, { recursive: true, force: true })
mkdirSync(dir, { recursive: true })
const disk = Math.floor((gib * 2 ** 30) / 0.7 / 65536) * 65536
const devices = [
  { name: 'drive-efidisk0', size: 540672 },
  { name: 'drive-scsi0', size: Math.floor((disk * 0.6) / 65536) * 65536 },
  { name: 'drive-scsi1', size: Math.floor((disk * 0.4) / 65536) * 65536 },
]
// About 1% of scsi0's clusters, in 12 runs: files rewritten in place.
const clusters = devices[1]!.size / 65536
const runLen = Math.max(1, Math.floor((clusters * 0.01) / 12))
const starts = Array.from({ length: 12 }, (_, i) => Math.floor(((i + 0.5) * clusters) / 12))
const changed = (dev: number, c: number) => dev === 2 && starts.some(s => c >= s && c < s + runLen)
const A = join(dir, 'vzdump-qemu-100-2026_11_20-01_00_00.vma')
const B = join(dir, 'vzdump-qemu-100-2026_11_21-01_00_00.vma')
await writeSampleArchive(A, { devices, seed: 5, orderSeed: 1, fill: 0.9 })
await writeSampleArchive(B, { devices, seed: 5, orderSeed: 2, fill: 0.9, changed })
const Ao = join(dir, 'a-opt.vma')
const Bo = join(dir, 'b-opt.vma')
await optimize(A, { dest: Ao })
await optimize(B, { dest: Bo })
const ideal = (await compareArchives(Ao, Bo)).total.added4k
const sizeB = statSync(B).size

const pct = (n: number) => `${((100 * n) / sizeB).toFixed(1)}%`
const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`
const rows: [string, number, number][] = [
  ['restic (v2, --compression off)', resticAdded(dir, [A, B]), resticAdded(dir, [Ao, Bo])],
  ['borg (default chunker, --compression none)', borgAdded(dir, [A, B]), borgAdded(dir, [Ao, Bo])],
  ['rdiff (signature of A, delta of B)', rdiffDelta(dir, A, B), rdiffDelta(dir, Ao, Bo)],
]
console.log(`dedup: two backups a day apart, B = ${mb(sizeB)} (VMA_BENCH_GIB=${gib}); what each tool stores for B given A`)
console.log('')
console.log(`| tool | as vzdump wrote them | after vma-opt optimize | really changed |`)
console.log(`|---|---:|---:|---:|`)
for (const [tool, raw, opt] of rows) console.log(`| ${tool} | ${mb(raw)} (${pct(raw)}) | ${mb(opt)} (${pct(opt)}) | ${mb(ideal)} (${pct(ideal)}) |`)
// A delta compares content, so it is the same for the archives as written and optimized.
const delta = join(dir, 'b.vma-delta')
const d = await diff(A, B, delta)
const held = d.heldClusters * 65536
console.log(`| vma-opt diff A B (a delta of B; ${d.heldClusters} clusters held, ${mb(held)}) | ${mb(d.outputBytes)} (${pct(d.outputBytes)}) | ${mb(d.outputBytes)} (${pct(d.outputBytes)}) | ${mb(ideal)} (${pct(ideal)}) |`)

// The same with filesystems inside: what --trim adds.
const VMA = join(ROOT, '..', 'shared', 'tools', 'proxmox-vma', 'vma')
const imgs = [join(dir, 'day1.img'), join(dir, 'day2.img')]
const disk1 = buildLinuxDisk(imgs[0]!, Math.round(gib * 1024), join(dir, 'work'))
copyFileSync(imgs[0]!, imgs[1]!)
evolve({ ...disk1, path: imgs[1]! }, join(dir, 'work'), 2)
const raw = [join(dir, 'vzdump-qemu-101-2026_11_20-01_00_00.vma'), join(dir, 'vzdump-qemu-101-2026_11_21-01_00_00.vma')]
const byProxmox = existsSync(VMA) && spawnSync(VMA, ['create', raw[0]!, `drive-scsi0=${imgs[0]}`]).status === 0 && spawnSync(VMA, ['create', raw[1]!, `drive-scsi0=${imgs[1]}`]).status === 0
if (!byProxmox) {
  const { pack } = await import('../src/pack/pack.js')
  for (const i of [0, 1]) await pack(raw[i]!, { disks: [{ name: 'drive-scsi0', path: imgs[i]! }], force: true })
}
const opt = [join(dir, 'o1.vma'), join(dir, 'o2.vma')]
const trimmed = [join(dir, 't1.vma'), join(dir, 't2.vma')]
for (const i of [0, 1]) {
  await optimize(raw[i]!, { dest: opt[i] })
  await optimize(raw[i]!, { dest: trimmed[i], trim: { journal: 'strict', lvmFree: false } })
}
for (const f of imgs) rmSync(f)
const idealT = (await compareArchives(trimmed[0]!, trimmed[1]!)).total.added4k
const sizeL = statSync(raw[1]!).size
const pctL = (n: number) => `${((100 * n) / sizeL).toFixed(1)}%`
const rowsL: [string, number, number, number][] = [
  ['restic (v2, --compression off)', resticAdded(dir, raw), resticAdded(dir, opt), resticAdded(dir, trimmed)],
  ['borg (default chunker, --compression none)', borgAdded(dir, raw), borgAdded(dir, opt), borgAdded(dir, trimmed)],
  ['rdiff (signature of A, delta of B)', rdiffDelta(dir, raw[0]!, raw[1]!), rdiffDelta(dir, opt[0]!, opt[1]!), rdiffDelta(dir, trimmed[0]!, trimmed[1]!)],
]
const zst = (f: string) => Number(spawnSync('sh', ['-c', `zstd -q -c '${f}' | wc -c`]).stdout.toString())
console.log('')
console.log(`dedup with filesystems: a ${mb(disk1.size)} Linux disk (GPT, ext4 with files, swap), a day of use apart; B = ${mb(sizeL)} as ${byProxmox ? "Proxmox's vma create" : 'vma-opt pack'} wrote it`)
console.log('')
console.log(`| tool | as vzdump wrote them | after vma-opt optimize | after optimize --trim | live data changed |`)
console.log(`|---|---:|---:|---:|---:|`)
for (const [tool, r, o, t] of rowsL) console.log(`| ${tool} | ${mb(r)} (${pctL(r)}) | ${mb(o)} (${pctL(o)}) | ${mb(t)} (${pctL(t)}) | ${mb(idealT)} (${pctL(idealT)}) |`)
console.log(`| size of B (plain / zstd) | ${mb(sizeL)} / ${mb(zst(raw[1]!))} | ${mb(statSync(opt[1]!).size)} / ${mb(zst(opt[1]!))} | ${mb(statSync(trimmed[1]!).size)} / ${mb(zst(trimmed[1]!))} | |`)
rmSync(dir, { recursive: true, force: true })
