// A guest for the ls/get tests, built with the real tools: a directory tree
// with every kind of file the restore must keep (modes, owners, mtimes,
// sparse and fragmented files, fast and slow symlinks, hostile symlinks,
// hard links, a directory of thousands of entries, odd names, xattrs and an
// ACL), made into ext4 by `mkfs.ext4 -d`, indexed (htree) by `e2fsck -fD`,
// fragmented by debugfs, placed in partition 1 of a GPT disk next to a btrfs
// partition 2 (which ls/get cannot read), and packed by `vma-opt pack`.

import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chownSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, symlinkSync, utimesSync, writeFileSync, writeSync, closeSync, chmodSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, cliEnv } from './helpers.js'
import { fileContent as words } from '../src/sample/linux-disk.js'

/** Reproducible bytes of any length (the sample's generator writes whole words). */
const fileContent = (n: number, seed: number): Buffer => words(Math.ceil(n / 4) * 4, seed).subarray(0, n)

const MiB = 1 << 20
export const FS_OFFSET = MiB
export const FS_SIZE = 64 * MiB

export const RESTORE_TOOLS = ['mkfs.ext4', 'e2fsck', 'debugfs', 'sgdisk', 'mkfs.btrfs', 'setfattr', 'setfacl', 'getfattr', 'zstd']

export function run(cmd: string, args: string[], ok: number[] = [0]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: cliEnv() })
  if (r.error || !ok.includes(r.status ?? -1)) throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? r.stderr}`)
  return r.stdout
}

/** Hostile and odd names: a newline, a byte that is not UTF-8, a backslash. */
export const ODD_NAMES = [Buffer.from('new\nline'), Buffer.from([0x66, 0xff, 0x2e, 0x62]), Buffer.from('back\\slash'), Buffer.from('ünïcode')]

const T0 = 1_600_000_000

/** The source tree; returns nothing: the tree on disk is the expectation. */
export function makeTree(tree: string): void {
  let tick = 0
  const stamp = (p: string) => utimesSync(p, T0 + 1000 + tick, T0 + tick++ * 3601)
  const file = (rel: string, data: Buffer, mode = 0o644, uid = 0, gid = 0) => {
    const p = join(tree, rel)
    writeFileSync(p, data)
    chmodSync(p, mode)
    chownSync(p, uid, gid)
    stamp(p)
  }
  for (const d of ['etc', 'bin', 'home', 'home/alice', 'many', 'frag', 'links', 'odd', 'ro']) mkdirSync(join(tree, d), { recursive: true })
  file('etc/hostname', Buffer.from('guest-host\n'))
  file('etc/passwd', Buffer.from('root:x:0:0:guest root:/root:/bin/sh\n'))
  file('bin/tool', fileContent(70_000, 1), 0o755)
  file('bin/suid', fileContent(5000, 2), 0o4755)
  file('home/alice/secret', Buffer.from('alice only\n'), 0o600, 1000, 1000)
  file('home/alice/notes.txt', fileContent(12_345, 3), 0o640, 1000, 100)
  file('empty', Buffer.alloc(0))
  file('big.bin', fileContent(3 * MiB + 123, 4))
  file('ro/readonly', Buffer.from('cannot write me\n'), 0o444)
  // Sparse: data at 0, at 3 MiB and at the end of 9 MiB, holes between.
  const sp = join(tree, 'sparse.img')
  const fd = openSync(sp, 'w')
  writeSync(fd, fileContent(8192, 5), 0, 8192, 0)
  writeSync(fd, fileContent(4096, 6), 0, 4096, 3 * MiB)
  writeSync(fd, Buffer.from('end'), 0, 3, 9 * MiB - 3)
  closeSync(fd)
  stamp(sp)
  for (let i = 0; i < 3000; i++) file(`many/f${String(i).padStart(4, '0')}`, Buffer.from(`entry ${i}\n`))
  // Pads that debugfs removes every other one of, so frag.bin lands in the gaps.
  for (let i = 0; i < 200; i++) file(`frag/pad${String(i).padStart(3, '0')}`, fileContent(16384, 100 + i))
  // Hard links: three names, one inode.
  file('links/hl1', Buffer.from('one inode, three names\n'))
  linkSync(join(tree, 'links/hl1'), join(tree, 'links/hl2'))
  linkSync(join(tree, 'links/hl1'), join(tree, 'home/hl3'))
  const link = (rel: string, target: string) => {
    symlinkSync(target, join(tree, rel))
    const at = T0 + tick++ * 3601
    // lutimes: the link's own times.
    spawnSync('touch', ['-h', '-d', `@${at}`, join(tree, rel)])
  }
  link('links/fast', '../etc/hostname')
  link('links/slow', `../${'long-directory-name/'.repeat(4)}../../../../etc/hostname`)
  link('links/abs-etc', '/etc')
  link('links/passwd', '/etc/passwd')
  link('links/escape', '../../../../../../etc/passwd')
  link('links/dangling', 'nowhere')
  link('links/loop1', 'loop2')
  link('links/loop2', 'loop1')
  for (const [i, n] of ODD_NAMES.entries()) {
    const p = Buffer.concat([Buffer.from(join(tree, 'odd') + '/'), n])
    writeFileSync(p, Buffer.from(`odd ${i}\n`))
    utimesSync(p, T0, T0 + i)
  }
  run('mkfifo', [join(tree, 'fifo')])
  stamp(join(tree, 'fifo'))
  run('setfattr', ['-n', 'user.note', '-v', 'kept with --xattrs', join(tree, 'etc/hostname')])
  run('setfacl', ['-m', 'u:1000:r', join(tree, 'etc/passwd')])
  for (const d of ['etc', 'bin', 'home/alice', 'home', 'many', 'links', 'odd', 'ro']) stamp(join(tree, d))
  chmodSync(join(tree, 'ro'), 0o555)
  chownSync(join(tree, 'home/alice'), 1000, 1000)
  chmodSync(join(tree, 'home/alice'), 0o750)
}

/** A 16 MiB ext4 image `dir`/`name` made by mkfs.ext4 -d from `files` (path: content). */
export function smallExt4(dir: string, name: string, files: Record<string, string>): string {
  const tree = join(dir, `${name}.tree`)
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(tree, rel, '..'), { recursive: true })
    writeFileSync(join(tree, rel), text)
  }
  const img = join(dir, name)
  run('mkfs.ext4', ['-q', '-F', '-d', tree, img, '16M'])
  return img
}

/** ext4 from the tree (htree directories, a fragmented frag/frag.bin mirrored into the tree). */
export function makeExt4(tree: string, img: string, work: string): void {
  run('mkfs.ext4', ['-q', '-F', '-b', '4096', '-E', 'nodiscard', '-d', tree, img, `${FS_SIZE / 1024}k`])
  run('e2fsck', ['-fyD', img], [0, 1])
  const cmds: string[] = []
  for (let i = 1; i < 200; i += 2) {
    const n = `frag/pad${String(i).padStart(3, '0')}`
    cmds.push(`rm /${n}`)
    rmSync(join(tree, n))
  }
  const frag = join(work, 'frag.bin')
  writeFileSync(frag, fileContent(1536 * 1024 + 77, 9))
  cmds.push('cd /frag', `write ${frag} frag.bin`, 'sif /frag/frag.bin mtime @1600000000', 'sif /frag/frag.bin atime @1600000000', 'sif /frag/frag.bin mode 0100644')
  cmds.push('sif /frag/frag.bin uid 0', 'sif /frag/frag.bin gid 0', 'sif /frag mtime @1600000000')
  writeFileSync(join(work, 'cmds'), `${cmds.join('\n')}\n`)
  run('debugfs', ['-w', '-f', join(work, 'cmds'), img])
  writeFileSync(join(tree, 'frag/frag.bin'), readFileSync(frag))
  chmodSync(join(tree, 'frag/frag.bin'), 0o644)
  utimesSync(join(tree, 'frag/frag.bin'), T0, T0)
  utimesSync(join(tree, 'frag'), T0, T0)
  run('e2fsck', ['-fn', img])
}

/** A GPT disk: p1 the ext4 image, p2 btrfs. */
export function makeDisk(fsImg: string, disk: string, work: string): void {
  run('truncate', ['-s', String(FS_SIZE + 130 * MiB), disk])
  run('sgdisk', ['-o', '-n', `1:2048:+${FS_SIZE / 1024}K`, '-n', '2:0:+120M', disk])
  run('dd', [`if=${fsImg}`, `of=${disk}`, 'bs=1M', `seek=${FS_OFFSET / MiB}`, 'conv=notrunc', 'status=none'])
  const b = join(work, 'btrfs.img')
  run('truncate', ['-s', String(120 * MiB), b])
  run('mkfs.btrfs', ['-q', b])
  run('dd', [`if=${b}`, `of=${disk}`, 'bs=1M', `seek=${(FS_OFFSET + FS_SIZE) / MiB}`, 'conv=notrunc', 'status=none'])
  rmSync(b)
}

export interface Guest {
  tree: string
  fsImg: string
  archive: string
}

/** The whole guest: tree, ext4 image, disk, archive. */
export function buildGuest(dir: string): Guest {
  const tree = join(dir, 'tree')
  mkdirSync(tree)
  makeTree(tree)
  const fsImg = join(dir, 'fs.img')
  makeExt4(tree, fsImg, dir)
  const disk = join(dir, 'disk.raw')
  makeDisk(fsImg, disk, dir)
  const archive = join(dir, 'vzdump-qemu-100-2026_12_01-00_00_00.vma')
  run(BIN, ['pack', '-q', archive, '--disk', `drive-scsi0=${disk}`, '--ctime', '1764000000'])
  rmSync(disk)
  return { tree, fsImg, archive }
}

export const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

export interface Seen {
  type: string
  perm: number
  uid: number
  gid: number
  size: number
  mtime: number
  ino: number
  sha?: string
  target?: string
}

/** Every path under `root` (as latin1 strings, so any byte survives) with what get must keep. */
export function walk(root: string): Map<string, Seen> {
  const out = new Map<string, Seen>()
  const visit = (rel: Buffer) => {
    const p = Buffer.concat([Buffer.from(root), rel])
    const st = lstatSync(p)
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other'
    const seen: Seen = { type, perm: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: st.size, mtime: Math.floor(st.mtimeMs / 1000), ino: st.ino }
    if (type === 'file') seen.sha = sha(readFileSync(p))
    if (type === 'symlink') seen.target = (readlinkSync(p, { encoding: 'buffer' }) as Buffer).toString('latin1')
    out.set(rel.toString('latin1') || '/', seen)
    if (type === 'dir') for (const n of readdirSync(p, { encoding: 'buffer' }) as Buffer[]) visit(Buffer.concat([rel, Buffer.from('/'), n]))
  }
  visit(Buffer.alloc(0))
  return out
}
