// A RHEL- or Fedora-style Linux guest disk for the trim benchmarks: GPT (sgdisk), p1 XFS or btrfs
// (mkfs.xfs, files written through the kernel), p2 swap, old "deleted" data
// everywhere else. Day 2 (evolveXfs) replaces about 2% of the files and churns
// temp files (written, synced, deleted: their data stays in free blocks)
// through a loop mount, and rewrites part of the swap area. Needs root (loop
// devices and mounts), xfsprogs, gdisk and util-linux; p1 must be >= 300 MiB
// (mkfs.xfs's minimum), so VMA_BENCH_GIB >= 0.4.
import { spawnSync } from 'node:child_process'
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type LinuxDisk, fileContent, fillGarbage, garbageDisk } from './linux-disk.js'

const MiB = 1 << 20
const PATH = `${process.env.PATH}:/usr/sbin:/sbin`

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, PATH } })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.error?.message}`)
  return r.stdout
}

/** The filesystems this disk can hold in p1: XFS (RHEL family) or btrfs (Fedora, openSUSE). */
export type RootFs = 'xfs' | 'btrfs'

const MKFS: Record<RootFs, (dev: string) => [string, string[]]> = {
  xfs: dev => ['mkfs.xfs', ['-q', '-f', '-K', '-L', 'root', dev]],
  btrfs: dev => ['mkfs.btrfs', ['-q', '-f', '-K', '-L', 'root', dev]],
}

/** Runs `use` on p1 mounted through a loop device; always unmounts and detaches. */
function withMounted(disk: LinuxDisk, work: string, use: (mnt: string) => void, mkfs?: RootFs): void {
  mkdirSync(work, { recursive: true })
  const mnt = mkdtempSync(join(work, 'mnt-'))
  const dev = run('losetup', ['--find', '--show', '--offset', String(disk.ext4.offset), '--sizelimit', String(disk.ext4.length), disk.path]).trim()
  try {
    if (mkfs) run(...MKFS[mkfs](dev))
    run('mount', [dev, mnt])
    try {
      use(mnt)
    } finally {
      run('umount', [mnt])
    }
  } finally {
    run('losetup', ['-d', dev])
    rmSync(mnt, { recursive: true, force: true })
  }
}

/** Builds day 1 of a disk of `sizeMiB` (>= 400). The `ext4` field of the result is p1, here XFS. */
export function buildXfsDisk(path: string, sizeMiB: number, work: string, fs: RootFs = 'xfs'): LinuxDisk {
  const disk = garbageDisk(path, sizeMiB)
  const fsLen = disk.ext4.length
  const swapLen = disk.swap.length
  run('sgdisk', ['-o', '-n', `1:2048:+${fsLen / 1024}K`, '-t', '1:8300', '-n', `2:0:+${swapLen / 1024}K`, '-t', '2:8200', path])
  withMounted(
    disk,
    work,
    mnt => {
      run('mkdir', ['-p', join(mnt, 'srv')])
      // The files: about 40% of the filesystem, 1 to 8 MiB each.
      for (let i = 0, used = 0; used < fsLen * 0.4; i++) {
        const n = (1 + (i % 8)) * MiB
        writeFileSync(join(mnt, 'srv', `file${i}.bin`), fileContent(n, i + 1))
        used += n
      }
    },
    fs,
  )
  const sw = join(work, 'swap.img')
  run('truncate', ['-s', String(swapLen), sw])
  run('mkswap', ['-q', '-U', 'clear', sw])
  run('dd', [`if=${sw}`, `of=${path}`, 'bs=4096', 'count=1', `seek=${disk.swap.offset / 4096}`, 'conv=notrunc', 'status=none'])
  rmSync(sw, { force: true })
  return disk
}

/** One day of use on a copy of the disk, as bench/linux-disk.ts's evolve does for ext4. */
export function evolveXfs(disk: LinuxDisk, work: string, day: number, churn = 4): void {
  withMounted(disk, work, mnt => {
    const srv = join(mnt, 'srv')
    const files = readdirSync(srv).filter(n => n.startsWith('file'))
    let changed = 0
    files
      .filter((_, i) => (i * 7 + day) % 50 === 0)
      .forEach((name, k) => {
        rmSync(join(srv, name))
        const n = (2 + (k % 4)) * MiB
        writeFileSync(join(srv, `day${day}-${k}.bin`), fileContent(n, day * 1000 + k))
        changed += n
      })
    const tmp: string[] = []
    for (let k = 0; k * 8 * MiB < changed * churn; k++) {
      tmp.push(join(mnt, `tmp${k}.bin`))
      writeFileSync(tmp[k]!, fileContent(8 * MiB, day * 7919 + k))
    }
    run('sync', [])
    for (const f of tmp) rmSync(f)
  })
  const fd = openSync(disk.path, 'r+')
  const pages = disk.swap.length / 4096
  for (let p = 1 + day; p < pages; p += 20) fillGarbage(fd, disk.swap.offset + p * 4096, 4096, `swapped page of day ${day}`)
  closeSync(fd)
}
