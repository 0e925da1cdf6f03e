// A Windows guest disk for the dedup benchmark, built with the real tools:
// test/fixtures/windows-disk.ts lays out GPT, an ESP (FAT32), an MSR, the NTFS
// "Windows" volume and an NTFS "Recovery" volume, every byte no tool wrote
// holding old "deleted" data. Day 1 then installs programs on "Windows" (files
// of 1 to 8 MiB, about 40% of the volume) and a pagefile.sys. Day 2 of the
// same disk (evolveWindows) replaces about 2% of the files by new documents,
// writes temp files and deletes them again (their data stays in the freed
// clusters) and rewrites part of the pagefile, as a day of use does.
// The volume is changed through ntfs-3g (FUSE) when it mounts here, else with
// ntfscp/ntfscat/ntfstruncate (flat names in the root, "deleted" = truncated
// to 0, which frees the clusters as a delete does).
// Needs gdisk, dosfstools and ntfs-3g.

import { closeSync, mkdirSync, openSync, readSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fuseWorks } from '../test/fixtures/ntfs-image.js'
import { run, unmount } from '../test/fixtures/ntfs-tools.js'
import { buildWindowsDisk, type WindowsDisk, type WindowsPartition } from '../test/fixtures/windows-disk.js'
import { fileContent } from './linux-disk.js'

const MiB = 1 << 20
const PROGRAMS = 'Program Files'
const PAGEFILE = 'pagefile.sys'

/** File operations on the mounted or unmounted "Windows" volume (paths relative to its root, '/'-separated). */
interface NtfsFiles {
  put(rel: string, content: Buffer): void
  drop(rel: string): void
  /** Regular files directly in directory `rel`. */
  list(rel: string): string[]
  /** Overwrites parts of an existing file, in place. */
  patch(rel: string, writes: { offset: number; data: Buffer }[]): void
}

function fuseFiles(mnt: string): NtfsFiles {
  return {
    put(rel, content) {
      mkdirSync(dirname(join(mnt, rel)), { recursive: true })
      writeFileSync(join(mnt, rel), content)
    },
    drop: rel => rmSync(join(mnt, rel)),
    list: rel => readdirSync(join(mnt, rel)).sort(),
    patch(rel, writes) {
      const fd = openSync(join(mnt, rel), 'r+')
      for (const { offset, data } of writes) writeSync(fd, data, 0, data.length, offset)
      closeSync(fd)
    },
  }
}

/** Without FUSE: flat names in the root ("Program Files/x" -> "Program Files_x"). */
function ntfsProgsFiles(img: string, tmp: string): NtfsFiles {
  const flat = (rel: string) => rel.replaceAll('/', '_')
  const local = join(tmp, 'file.bin')
  const inodes = () => {
    const m = new Map<string, number>()
    for (const line of run('ntfsls', ['-f', '-i', img]).toString().split('\n')) {
      const r = /^\s*(\d+)\s+(.+)$/.exec(line)
      if (r) m.set(r[2]!, Number(r[1]))
    }
    return m
  }
  const files: NtfsFiles = {
    put(rel, content) {
      writeFileSync(local, content)
      run('ntfscp', ['-f', '-q', img, local, flat(rel)])
    },
    drop: rel => void run('ntfstruncate', ['-f', img, String(inodes().get(flat(rel))), '0']),
    list: rel =>
      [...inodes().keys()]
        .filter(n => n.startsWith(`${flat(rel)}_`))
        .map(n => n.slice(flat(rel).length + 1))
        .sort(),
    patch(rel, writes) {
      const content = run('ntfscat', ['-f', img, flat(rel)])
      for (const { offset, data } of writes) data.copy(content, offset)
      files.put(rel, content)
    },
  }
  return files
}

/** Copies `length` bytes at `from` of file `src` to `to` of file `dst` (created when `create`). */
function copyRange(src: string, from: number, dst: string, to: number, length: number, create = false): void {
  const i = openSync(src, 'r')
  const o = openSync(dst, create ? 'w' : 'r+')
  const buf = Buffer.allocUnsafe(4 * MiB)
  try {
    for (let done = 0; done < length; ) {
      const n = readSync(i, buf, 0, Math.min(buf.length, length - done), from + done)
      if (n === 0) throw new Error(`short read of ${src}`)
      writeSync(o, buf, 0, n, to + done)
      done += n
    }
  } finally {
    closeSync(i)
    closeSync(o)
  }
}

/** Runs `change` on the "Windows" volume: copied out of the disk, changed, copied back. */
function onWindowsVolume(disk: WindowsDisk, work: string, fuse: boolean | undefined, change: (files: NtfsFiles) => void): void {
  const p = windowsPartition(disk)
  mkdirSync(work, { recursive: true })
  const img = join(work, 'windows.img')
  copyRange(disk.path, p.offset, img, 0, p.length, true)
  const mnt = join(work, 'mnt')
  if (fuse ?? fuseWorks(work)) {
    mkdirSync(mnt, { recursive: true })
    run('ntfs-3g', [img, mnt])
    try {
      change(fuseFiles(mnt))
    } finally {
      unmount(mnt, img)
    }
  } else change(ntfsProgsFiles(img, work))
  copyRange(img, 0, disk.path, p.offset, p.length)
  rmSync(work, { recursive: true, force: true })
}

export function windowsPartition(disk: WindowsDisk): WindowsPartition {
  return disk.partitions.find(p => p.content === 'windows')!
}

export interface WindowsDayOptions {
  /** Change the volume through an ntfs-3g (FUSE) mount; default: when one works here. false forces ntfscp. */
  fuse?: boolean
  /** evolveWindows: temp files written and deleted, as a multiple of the size of the files changed (default 4). */
  churn?: number
}

/** Builds day 1 of a disk of `sizeMiB` (>= 128). */
export function buildBenchWindowsDisk(path: string, sizeMiB: number, work: string, options: WindowsDayOptions = {}): WindowsDisk {
  const recoveryMiB = Math.max(8, Math.round(sizeMiB * 0.04))
  const disk = buildWindowsDisk(path, { espMiB: 34, msrMiB: 16, recoveryMiB, windowsMiB: sizeMiB - 2 - 34 - 16 - recoveryMiB })
  const volume = windowsPartition(disk).length
  onWindowsVolume(disk, work, options.fuse, files => {
    for (let i = 0, used = 0; used < volume * 0.4; i++) {
      const n = (1 + (i % 8)) * MiB
      files.put(`${PROGRAMS}/app${i % 6}-file${i}.bin`, fileContent(n, i + 1))
      used += n
    }
    files.put(PAGEFILE, fileContent(Math.floor((volume * 0.08) / MiB) * MiB, 4242))
  })
  return disk
}

/**
 * One day of use on a copy of the disk: about 2% of the program files replaced
 * by new documents, temp files of `churn` x the changed size written and
 * deleted, 5% of the pagefile's pages rewritten.
 */
export function evolveWindows(disk: WindowsDisk, work: string, day: number, options: WindowsDayOptions = {}): void {
  const churn = options.churn ?? 4
  const pagefile = Math.floor((windowsPartition(disk).length * 0.08) / MiB) * MiB
  onWindowsVolume(disk, work, options.fuse, files => {
    const gone = files.list(PROGRAMS).filter((_, i) => (i * 7 + day) % 50 === 0)
    let changed = 0
    for (const [k, name] of gone.entries()) {
      files.drop(`${PROGRAMS}/${name}`)
      const n = (2 + (k % 4)) * MiB
      files.put(`Users/user/Documents/day${day}-${k}.bin`, fileContent(n, day * 1000 + k))
      changed += n
    }
    const temps = Math.ceil((changed * churn) / (8 * MiB))
    for (let k = 0; k < temps; k++) files.put(`Windows/Temp/tmp${day}-${k}.bin`, fileContent(8 * MiB, day * 7919 + k))
    for (let k = 0; k < temps; k++) files.drop(`Windows/Temp/tmp${day}-${k}.bin`)
    const pages: { offset: number; data: Buffer }[] = []
    for (let p = 1 + day; p < pagefile / 4096; p += 20) pages.push({ offset: p * 4096, data: fileContent(4096, day * 100_000 + p) })
    files.patch(PAGEFILE, pages)
  })
}
