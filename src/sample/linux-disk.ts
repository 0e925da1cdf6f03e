// A Linux guest disk for the trim demo and benchmarks, built with the real tools:
// GPT (sgdisk), p1 ext4 (mkfs.ext4 -d) with files, p2 swap (mkswap), and
// every byte no tool wrote holding old "deleted" data, as on a disk that has
// been in use. Day 2 of the same disk (evolve) deletes and writes some files
// through debugfs, churns temp files (written, then deleted: their data stays
// in free blocks) and rewrites part of the swap area, as a day of use does.
// Needs gdisk, e2fsprogs and util-linux (mkswap).

import { spawnSync } from 'node:child_process'
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'

const MiB = 1 << 20
const PATH = `${process.env.PATH}:/usr/sbin:/sbin`

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, PATH, E2FSPROGS_FAKE_TIME: '1764000000' } })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.error?.message}`)
  return r.stdout
}

/** Compressible, recognisable old data: each 4 KiB block says where it is and what it was. */
export function fillGarbage(fd: number, offset: number, length: number, tag: string): void {
  const buf = Buffer.allocUnsafe(4 * MiB)
  for (let done = 0; done < length; ) {
    const n = Math.min(buf.length, length - done)
    for (let b = 0; b < n; b += 4096) {
      const line = `deleted data, block ${(offset + done + b) / 4096} of old file ${tag}\n`
      buf.write(line.repeat(Math.ceil(4096 / line.length)).slice(0, 4096), b, 'latin1')
    }
    writeSync(fd, buf, 0, n, offset + done)
    done += n
  }
}

/** Pseudo-random file content that compresses about 2:1, from a seed. */
export function fileContent(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    b.writeUInt32LE(i % 8 === 0 ? x >>> 0 : 0x20202020 + (x & 0x0f0f0f0f), i)
  }
  return b
}

export interface LinuxDisk {
  path: string
  size: number
  ext4: { offset: number; length: number }
  swap: { offset: number; length: number }
}

/** A disk of `sizeMiB` full of old data, and where its filesystem (80%) and swap (10%) partitions go. */
export function garbageDisk(path: string, sizeMiB: number): LinuxDisk {
  const size = sizeMiB * MiB
  const fd = openSync(path, 'w')
  fillGarbage(fd, 0, size, 'from the VM template')
  closeSync(fd)
  const fsLen = Math.floor((sizeMiB * 0.8) / 4) * 4 * MiB
  const swapLen = Math.floor((sizeMiB * 0.1) / 4) * 4 * MiB
  return { path, size, ext4: { offset: MiB, length: fsLen }, swap: { offset: MiB + fsLen, length: swapLen } }
}

/** Builds day 1 of a disk of `sizeMiB` (>= 64). */
export function buildLinuxDisk(path: string, sizeMiB: number, work: string): LinuxDisk {
  const { size, ext4, swap } = garbageDisk(path, sizeMiB)
  const extLen = ext4.length
  const swapLen = swap.length
  // The files: about 40% of the filesystem, 1 to 8 MiB each.
  const tree = join(work, 'tree')
  rmSync(tree, { recursive: true, force: true })
  mkdirSync(join(tree, 'srv'), { recursive: true })
  for (let i = 0, used = 0; used < extLen * 0.4; i++) {
    const n = (1 + (i % 8)) * MiB
    writeFileSync(join(tree, 'srv', `file${i}.bin`), fileContent(n, i + 1))
    used += n
  }
  run('mkfs.ext4', ['-q', '-F', '-b', '4096', '-E', `offset=${ext4.offset},nodiscard`, '-U', 'clear', '-d', tree, path, `${extLen / 1024}k`])
  rmSync(tree, { recursive: true, force: true })
  // After mkfs, which wipes what looks like another signature (a GPT) at the
  // start. (sgdisk -q silently writes nothing when it would have warned.)
  run('sgdisk', ['-o', '-n', `1:2048:+${extLen / 1024}K`, '-t', '1:8300', '-n', `2:0:+${swapLen / 1024}K`, '-t', '2:8200', path])
  // mkswap writes only its first page; the rest keeps the old data.
  const sw = join(work, 'swap.img')
  run('truncate', ['-s', String(swapLen), sw])
  run('mkswap', ['-q', '-U', 'clear', sw])
  run('dd', [`if=${sw}`, `of=${path}`, 'bs=4096', 'count=1', `seek=${swap.offset / 4096}`, 'conv=notrunc', 'status=none'])
  rmSync(sw, { force: true })
  return { path, size, ext4, swap }
}

/**
 * One day of use on a copy of the disk: about 2% of the files replaced, temp
 * files of `churn` x the changed size written and deleted, 5% of the swap
 * area rewritten.
 */
export function evolve(disk: LinuxDisk, work: string, day: number, churn = 4): void {
  const cmds: string[] = []
  const files = spawnSync('debugfs', ['-R', 'ls -p /srv', `${disk.path}?offset=${disk.ext4.offset}`], { encoding: 'utf8', env: { ...process.env, PATH } })
    .stdout.split('\n')
    .map(l => l.split('/')[5])
    .filter((n): n is string => !!n && n.startsWith('file'))
  const gone = files.filter((_, i) => (i * 7 + day) % 50 === 0)
  let changed = 0
  mkdirSync(work, { recursive: true })
  for (const [k, name] of gone.entries()) {
    cmds.push(`rm /srv/${name}`)
    const n = (2 + (k % 4)) * MiB
    const f = join(work, `new${day}-${k}.bin`)
    writeFileSync(f, fileContent(n, day * 1000 + k))
    cmds.push(`write ${f} /srv/day${day}-${k}.bin`)
    changed += n
  }
  for (let k = 0; k * 8 * MiB < changed * churn; k++) {
    const f = join(work, `tmp${day}-${k}.bin`)
    writeFileSync(f, fileContent(8 * MiB, day * 7919 + k))
    cmds.push(`write ${f} /tmp${k}.bin`)
  }
  for (let k = 0; k * 8 * MiB < changed * churn; k++) cmds.push(`rm /tmp${k}.bin`)
  const script = join(work, 'cmds.txt')
  writeFileSync(script, cmds.join('\n') + '\n')
  run('debugfs', ['-w', '-f', script, `${disk.path}?offset=${disk.ext4.offset}`])
  const fd = openSync(disk.path, 'r+')
  const pages = disk.swap.length / 4096
  for (let p = 1 + day; p < pages; p += 20) fillGarbage(fd, disk.swap.offset + p * 4096, 4096, `swapped page of day ${day}`)
  closeSync(fd)
  rmSync(work, { recursive: true, force: true })
}
