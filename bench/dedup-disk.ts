// The dedup table for one guest disk with real filesystems, two days of use
// apart: the archives as vzdump wrote them (Proxmox's own `vma create` when
// ../shared has it, else vma-opt pack), after optimize and after optimize
// --trim, next to the live data that changed (the trimmed archives compared).

import { spawnSync } from 'node:child_process'
import { existsSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { borgAdded, rdiffDelta, resticAdded } from './dedup-clients.js'
import { compareArchives } from '../src/compare/compare.js'
import { optimize } from '../src/optimize/optimize.js'
import { proxmoxVmaPath } from '../test/tools.js'

// Found as the tests find it ($VMA_PROXMOX or the shared copy).
const VMA = proxmoxVmaPath()
const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`
const zst = (f: string) => Number(spawnSync('sh', ['-c', `zstd -q -c '${f}' | wc -c`]).stdout.toString())

export interface DiskDays {
  /** Table title before "...; B = N MiB as X wrote it". */
  title: string
  /** vzdump's VM id in the archive names. */
  vmid: number
  /** Device name in the archive, e.g. drive-scsi0. */
  drive: string
  /** Raw images of day 1 and day 2; removed once packed. */
  images: [string, string]
}

/** Packs both days, optimizes them with and without --trim, and prints the table. */
export async function diskDedupTable(dir: string, days: DiskDays): Promise<void> {
  const { vmid, drive, images } = days
  const raw = [join(dir, `vzdump-qemu-${vmid}-2026_11_20-01_00_00.vma`), join(dir, `vzdump-qemu-${vmid}-2026_11_21-01_00_00.vma`)]
  const create = (i: number) => spawnSync(VMA, ['create', raw[i]!, `${drive}=${images[i]}`]).status === 0
  const byProxmox = existsSync(VMA) && create(0) && create(1)
  if (!byProxmox) {
    const { pack } = await import('../src/pack/pack.js')
    for (const i of [0, 1]) await pack(raw[i]!, { disks: [{ name: drive, path: images[i]! }], force: true })
  }
  const opt = [join(dir, `o${vmid}-1.vma`), join(dir, `o${vmid}-2.vma`)]
  const trimmed = [join(dir, `t${vmid}-1.vma`), join(dir, `t${vmid}-2.vma`)]
  for (const i of [0, 1]) {
    await optimize(raw[i]!, { dest: opt[i] })
    await optimize(raw[i]!, { dest: trimmed[i], trim: { journal: 'strict', lvmFree: false } })
  }
  for (const f of images) rmSync(f)
  const ideal = (await compareArchives(trimmed[0]!, trimmed[1]!)).total.added4k
  const sizeB = statSync(raw[1]!).size
  const pct = (n: number) => `${((100 * n) / sizeB).toFixed(1)}%`
  const rows: [string, number, number, number][] = [
    ['restic (v2, --compression off)', resticAdded(dir, raw), resticAdded(dir, opt), resticAdded(dir, trimmed)],
    ['borg (default chunker, --compression none)', borgAdded(dir, raw), borgAdded(dir, opt), borgAdded(dir, trimmed)],
    ['rdiff (signature of A, delta of B)', rdiffDelta(dir, raw[0]!, raw[1]!), rdiffDelta(dir, opt[0]!, opt[1]!), rdiffDelta(dir, trimmed[0]!, trimmed[1]!)],
  ]
  console.log('')
  console.log(`${days.title}; B = ${mb(sizeB)} as ${byProxmox ? "Proxmox's vma create" : 'vma-opt pack'} wrote it`)
  console.log('')
  console.log(`| tool | as vzdump wrote them | after vma-opt optimize | after optimize --trim | live data changed |`)
  console.log(`|---|---:|---:|---:|---:|`)
  for (const [tool, r, o, t] of rows) console.log(`| ${tool} | ${mb(r)} (${pct(r)}) | ${mb(o)} (${pct(o)}) | ${mb(t)} (${pct(t)}) | ${mb(ideal)} (${pct(ideal)}) |`)
  console.log(`| size of B (plain / zstd) | ${mb(sizeB)} / ${mb(zst(raw[1]!))} | ${mb(statSync(opt[1]!).size)} / ${mb(zst(opt[1]!))} | ${mb(statSync(trimmed[1]!).size)} / ${mb(zst(trimmed[1]!))} | |`)
  for (const f of [...raw, ...opt, ...trimmed]) rmSync(f)
}
