// Block sharing (spec/sharing.md), for a week of daily backups of one
// generated VM: the disk used by the archives as vzdump wrote them, by
// optimized archives, by reverse deltas (the newest full, older days as
// deltas), and by full aligned archives each shared with the day before on a
// loop-mounted XFS (reflink); next to the first backup plus what truly
// changed. Then the time optimize takes for the last day with --share-with
// against without (both --align, same run, same filesystem): the goal is
// a ratio <= 1.3, also shown against `cp` of the same file. Needs root
// (loop device). VMA_BENCH_GIB sets the size (default 2; 2 builds ~2 GiB
// archives), VMA_BENCH_DAYS the days (default 7); VMA_BENCH_TIME_ONLY=1 skips
// the week's table and times the last day only (two days are built).

import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { DATA } from './common.js'
import { optimize } from '../src/optimize/optimize.js'
import { diff } from '../src/delta/diff.js'
import { compareArchives } from '../src/compare/compare.js'
import { writeSampleArchive } from '../src/sample/sample-archive.js'
import { diskUsage } from '../src/share/disk-usage.js'
import { installSignalCleanup } from '../src/util/temp-files.js'

const gib = Number(process.env.VMA_BENCH_GIB ?? 2)
const timeOnly = process.env.VMA_BENCH_TIME_ONLY === '1'
const days = timeOnly ? 2 : Number(process.env.VMA_BENCH_DAYS ?? 7)
mkdirSync(DATA, { recursive: true })
const dir = mkdtempSync(join(DATA, 'share-'))
const mnt = join(dir, 'mnt')
const img = join(dir, 'xfs.img')

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}
/** Bytes used on the XFS, once what sharing released has been freed (XFS does it in the background): two equal readings in a row. */
const used = () => {
  let last = -1
  for (let i = 0; i < 120; i++) {
    run('sync', ['-f', mnt])
    const now = Number(run('df', ['-B1', '--output=used', mnt]).trim().split('\n').pop())
    if (now === last) return now
    last = now
    spawnSync('sleep', ['0.5'])
  }
  return last
}
const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`

const disk = Math.floor((gib * 2 ** 30) / 0.7 / 65536) * 65536
const devices = [
  { name: 'drive-efidisk0', size: 540672 },
  { name: 'drive-scsi0', size: Math.floor((disk * 0.7) / 65536) * 65536 },
  { name: 'drive-scsi1', size: Math.floor((disk * 0.3) / 65536) * 65536 },
]
// Each day rewrites ~1% of scsi0 in 6 places (cumulative: a cluster changed once stays changed).
const clusters = devices[1]!.size / 65536
const runLen = Math.max(1, Math.floor((clusters * 0.01) / 6))
const starts = (day: number) => Array.from({ length: 6 }, (_, i) => Math.floor(((i + 0.37 * day) * clusters) / 6.5) % (clusters - runLen))
const changedBy = (day: number) => (dev: number, c: number) => dev === 2 && Array.from({ length: day }, (_, d) => starts(d + 1)).some(ss => ss.some(s => c >= s && c < s + runLen))

/** Time: the last day with and without sharing (both aligned, to the same filesystem), and cp of the input (with its sync) for scale. */
async function timeLastDay(last: string, prev: string): Promise<void> {
  const copy = join(mnt, 'cp.vma')
  const alone = join(mnt, 'alone.vma')
  const with_ = join(mnt, 'with.vma')
  run('sync', [])
  let t0 = Date.now()
  run('cp', ['--reflink=never', last, copy])
  run('sync', ['-f', copy])
  const tCp = (Date.now() - t0) / 1000
  rmSync(copy)
  run('sync', [])
  t0 = Date.now()
  await optimize(last, { dest: alone, align: true })
  const tAlone = (Date.now() - t0) / 1000
  run('sync', [])
  t0 = Date.now()
  const r = await optimize(last, { dest: with_, shareWith: [prev] })
  const tWith = (Date.now() - t0) / 1000
  const same = spawnSync('cmp', [alone, with_]).status === 0
  console.log(
    `time (${mb(statSync(last).size)} archive): cp ${tCp.toFixed(1)} s, optimize --align ${tAlone.toFixed(1)} s, with --share-with the day before ${tWith.toFixed(1)} s (${mb(r.share?.shared ?? 0)} shared${same ? ', cmp-identical' : ', OUTPUT DIFFERS'})`,
  )
  console.log(`ratios: share/align ${(tWith / tAlone).toFixed(2)}x, share/cp ${(tWith / tCp).toFixed(2)}x, align/cp ${(tAlone / tCp).toFixed(2)}x`)
}

let mounted = false
let loop = ''
/** Unmounts, detaches and deletes what the bench made: at its end, and on Ctrl-C or a kill (a loop mount left behind holds the image and its space). */
function teardown(): void {
  if (mounted) spawnSync('umount', [mnt])
  mounted = false
  if (loop) spawnSync('losetup', ['-d', loop])
  loop = ''
  rmSync(dir, { recursive: true, force: true })
}
installSignalCleanup(teardown)
try {
  spawnSync('truncate', ['-s', `${Math.ceil(gib * 3 + 1)}G`, img])
  run('mkfs.xfs', ['-q', '-m', 'reflink=1', img])
  loop = run('losetup', ['--find', '--show', img]).trim()
  mkdirSync(mnt)
  run('mount', [loop, mnt])
  mounted = true

  const raw: string[] = []
  const packed: string[] = []
  for (let d = 0; d < days; d++) {
    raw.push(join(dir, `day${d + 1}.vma`))
    await writeSampleArchive(raw[d]!, { devices, seed: 5, orderSeed: d + 1, fill: 0.9, ctime: 1_795_000_000 + d * 86400, ...(d ? { changed: changedBy(d) } : {}) })
    packed.push(join(dir, `day${d + 1}-opt.vma`))
    if (!timeOnly) await optimize(raw[d]!, { dest: packed[d]! })
  }
  if (timeOnly) {
    const prev = join(mnt, 'vzdump-qemu-100-day1.vma')
    await optimize(raw[0]!, { dest: prev, align: true })
    await timeLastDay(raw[1]!, prev)
    process.exit(0)
  }
  let changes = 0
  for (let d = 1; d < days; d++) changes += (await compareArchives(packed[d - 1]!, packed[d]!)).total.added4k
  const sum = (fs: string[]) => fs.reduce((s, f) => s + statSync(f).size, 0)
  let deltas = statSync(packed[days - 1]!).size
  for (let d = days - 1; d > 0; d--) {
    const delta = join(dir, `day${d}.vma-delta`)
    deltas += (await diff(packed[d]!, packed[d - 1]!, delta)).outputBytes
    rmSync(delta)
  }

  // Full aligned archives, each shared with the day before, on XFS.
  const base = used()
  const shared: string[] = []
  for (let d = 0; d < days; d++) {
    shared.push(join(mnt, `vzdump-qemu-100-day${d + 1}.vma`))
    const r = await optimize(raw[d]!, { dest: shared[d]!, ...(d ? { shareWith: [shared[d - 1]!] } : { align: true }) })
    if (process.env.VMA_BENCH_DEBUG) console.log(`day ${d + 1}: ${mb(r.share?.shared ?? 0)} shared`)
  }
  const onDisk = used() - base
  const du = await diskUsage(shared)
  const first = statSync(shared[0]!).size

  console.log(`share: ${days} daily backups of one VM, ${mb(statSync(raw[0]!).size)} each (VMA_BENCH_GIB=${gib}); disk used by the week`)
  console.log('')
  console.log('| kept as | disk used | restorable by Proxmox as is |')
  console.log('|---|---:|---|')
  console.log(`| full archives as vzdump wrote them | ${mb(sum(raw))} | every day |`)
  console.log(`| full optimized archives | ${mb(sum(packed))} | every day |`)
  console.log(`| reverse deltas (newest full + ${days - 1} deltas) | ${mb(deltas)} | the newest; older days need apply |`)
  console.log(`| full aligned archives sharing blocks (XFS, --share-with the day before) | ${mb(onDisk)} | every day |`)
  console.log(`| first backup + truly changed 4 KiB blocks | ${mb(first + changes)} (${mb(first)} + ${mb(changes)}) | |`)
  console.log('')
  console.log(`du (FIEMAP): ${mb(du.total.onDisk)} on disk; exclusive per day: ${du.files.map(f => mb(f.exclusive)).join(', ')}`)
  console.log(`goal: shared week <= first + 1.3 x changes = ${mb(first + 1.3 * changes)}: ${onDisk <= first + 1.3 * changes ? 'met' : 'NOT met'}`)

  await timeLastDay(raw[days - 1]!, shared[days - 2]!)
} finally {
  teardown()
}
