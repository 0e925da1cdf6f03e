// The table users read: how much restic, borg and rdiff store for the second
// of two backups of one VM a day apart, for the archives as vzdump wrote them
// and after vma-opt optimize, next to what really changed (the ideal).
// Backups are generated: three disks, Proxmox's interleaved and out-of-order
// cluster order, a new random uuid each, and ~1% of the data changed in a
// dozen places. VMA_BENCH_GIB sets the size (default 1).
//
// Three more tables ask the same for guest disks with real filesystems
// (bench/linux-disk.ts: GPT, ext4, swap; bench/xfs-disk.ts: GPT, XFS, swap, as
// root; bench/windows-disk.ts: GPT, ESP,
// MSR, NTFS "Windows" and "Recovery"; a day of use deletes and writes files
// and churns temp files), as vzdump wrote them (Proxmox's own `vma create`,
// when ../shared has it), after optimize, and after optimize --trim
// (bench/dedup-disk.ts).
import { copyFileSync, mkdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { DATA } from './common.js'
import { borgAdded, rdiffDelta, resticAdded } from './dedup-clients.js'
import { compareArchives } from '../src/compare/compare.js'
import { optimize } from '../src/optimize/optimize.js'
import { diff } from '../src/delta/diff.js'
import { writeSampleArchive } from '../src/sample/sample-archive.js'
import { diskDedupTable } from './dedup-disk.js'
import { buildLinuxDisk, evolve } from './linux-disk.js'
import { buildXfsDisk, evolveXfs } from './xfs-disk.js'
import { buildBenchWindowsDisk, evolveWindows } from './windows-disk.js'

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
console.log(
  `| vma-opt diff A B (a delta of B; ${d.heldClusters} clusters held, ${mb(held)}) | ${mb(d.outputBytes)} (${pct(d.outputBytes)}) | ${mb(d.outputBytes)} (${pct(d.outputBytes)}) | ${mb(ideal)} (${pct(ideal)}) |`,
)

// The same with filesystems inside: what --trim adds, for a Linux and a Windows disk.
const mib = Math.round(gib * 1024)
const linux: [string, string] = [join(dir, 'linux1.img'), join(dir, 'linux2.img')]
const linuxDisk = buildLinuxDisk(linux[0], mib, join(dir, 'work'))
copyFileSync(linux[0], linux[1])
evolve({ ...linuxDisk, path: linux[1] }, join(dir, 'work'), 2)
const fsTitle = 'dedup with filesystems: a'
await diskDedupTable(dir, { title: `${fsTitle} ${mb(linuxDisk.size)} Linux disk (GPT, ext4 with files, swap), a day of use apart`, vmid: 101, drive: 'drive-scsi0', images: linux })
const xfs: [string, string] = [join(dir, 'xfs1.img'), join(dir, 'xfs2.img')]
const xfsDisk = buildXfsDisk(xfs[0], mib, join(dir, 'work'))
copyFileSync(xfs[0], xfs[1])
evolveXfs({ ...xfsDisk, path: xfs[1] }, join(dir, 'work'), 2)
await diskDedupTable(dir, { title: `${fsTitle} ${mb(xfsDisk.size)} RHEL-style disk (GPT, XFS with files, swap), a day of use apart`, vmid: 103, drive: 'drive-scsi0', images: xfs })
const btrfs: [string, string] = [join(dir, 'btrfs1.img'), join(dir, 'btrfs2.img')]
const btrfsDisk = buildXfsDisk(btrfs[0], mib, join(dir, 'work'), 'btrfs')
copyFileSync(btrfs[0], btrfs[1])
evolveXfs({ ...btrfsDisk, path: btrfs[1] }, join(dir, 'work'), 2)
await diskDedupTable(dir, { title: `${fsTitle} ${mb(btrfsDisk.size)} Fedora-style disk (GPT, btrfs with files, swap), a day of use apart`, vmid: 104, drive: 'drive-scsi0', images: btrfs })
const windows: [string, string] = [join(dir, 'windows1.img'), join(dir, 'windows2.img')]
const windowsDisk = buildBenchWindowsDisk(windows[0], mib, join(dir, 'work'))
copyFileSync(windows[0], windows[1])
evolveWindows({ ...windowsDisk, path: windows[1] }, join(dir, 'work'), 2)
const windowsTitle = `${fsTitle} ${mb(windowsDisk.size)} Windows-like disk (GPT, ESP FAT32, MSR, NTFS with files and deleted files, NTFS recovery), a day of use apart`
await diskDedupTable(dir, { title: windowsTitle, vmid: 102, drive: 'drive-sata0', images: windows })
rmSync(dir, { recursive: true, force: true })
