// The XFS reader through the commands users run: a small XFS v5 volume
// filled through the kernel's mount (fixtures/xfs-files-image, small: sparse,
// unwritten extents, many extents, set-id and sticky modes, owners, hard
// link, fast and remote symlinks, FIFO, device, shortform and block
// directories, xattrs and ACLs) in partition 1 of a GPT disk, packed into a VMA by Proxmox's own
// `vma create` (by `vma-opt pack` where it cannot run). `vma-opt ls -l`
// equals GNU ls -ln of the mount; `vma-opt get -r --xattrs` equals the
// mounted tree in every file's sha256, mode, owner, mtime, link target,
// holes and xattrs.

import t from 'tap'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { type BigIntStats, lstatSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { populateFiles, snapshot, sparseImage, XFS_FILES_TOOLS, withXfsMounts } from './fixtures/xfs-files-image.js'
import { mountImage, unmount } from './fixtures/xfs-image.js'
import { run } from './trim-helpers.js'
import { createWithProxmox } from './proxmox-vma.js'
import { BIN, cliEnv } from './helpers.js'
import { proxmoxVma } from './tools.js'

const must = (r: { status: number; out: string }, what: string): string => {
  if (r.status !== 0) throw new Error(`${what}: ${r.out}`)
  return r.out
}

/** `ls -ln` lines as GNU ls prints them (UTC, seconds; the ACL '+' dropped, spaces squeezed), sorted. */
const gnuLs = (dir: string): string[] =>
  must(run('ls', ['-lnA', '--time-style=+%Y-%m-%d %H:%M:%S', dir], { TZ: 'UTC', LC_ALL: 'C' }), 'ls')
    .split('\n')
    .filter(l => l && !l.startsWith('total '))
    .map(l => l.replace(/^(\S{10})\+/, '$1').replace(/\s+/g, ' '))
    .sort()

withXfsMounts(t, [...XFS_FILES_TOOLS, 'sgdisk', 'getfacl', 'ls', 'touch'], 'ls -l and get -r of an XFS partition inside a VMA', async t => {
  const dir = t.testdir({ out: {} })
  const fs = join(dir, 'xfs.img')
  sparseImage(fs, 300 << 20) // mkfs.xfs's smallest
  must(run('mkfs.xfs', ['-q', '-f', '-L', 'files', fs]), 'mkfs.xfs')
  const m = mountImage(t, fs, dir)
  populateFiles(m, true)
  // Times the test can tell apart from "now", with nanoseconds.
  must(run('touch', ['-h', '-d', '2001-02-03 04:05:06.123456789Z', join(m, 'fast-link')]), 'touch')
  must(run('touch', ['-d', '1999-12-31 23:59:58.987654321Z', join(m, 'large.bin')]), 'touch')
  const want = snapshot(m)
  const lsRoot = gnuLs(m)
  const lsBlock = gnuLs(join(m, 'dir-block'))
  const acl = must(run('getfacl', ['-n', '--absolute-names', join(m, 'small.txt')]), 'getfacl').replace(/^# file:.*\n/, '')
  unmount(m)

  const disk = join(dir, 'disk.raw')
  sparseImage(disk, 302 << 20)
  must(run('sgdisk', ['-o', '-n', '1:2048:+300M', '-t', '1:8300', disk]), 'sgdisk')
  must(run('dd', [`if=${fs}`, `of=${disk}`, 'bs=1M', 'seek=1', 'conv=notrunc,sparse', 'status=none']), 'dd')
  const archive = join(dir, 'vzdump-qemu-100-2026_12_01-00_00_00.vma')
  const vma = proxmoxVma()
  if (vma.ok) {
    const conf = join(dir, 'qemu-server.conf')
    writeFileSync(conf, 'scsi0: local:100/vm-100-disk-0.raw,size=302M\n')
    const r = createWithProxmox(vma.path, archive, [conf], [{ name: 'drive-scsi0', path: disk }])
    t.equal(r.status, 0, `Proxmox's vma create: ${r.stderr}`)
  } else {
    t.comment(`${vma.reason}: packed by vma-opt pack`)
    execFileSync(BIN, ['pack', '-q', archive, '--disk', `drive-scsi0=${disk}`, '--ctime', '1764000000'], { env: cliEnv() })
  }
  const cli = (args: string[]) => execFileSync(BIN, args, { env: cliEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

  t.match(cli(['ls', archive]), /drive-scsi0:p1\s+xfs\s+300 MiB\s+label "files"/)
  const ours = (path: string) =>
    cli(['ls', '-l', archive, `scsi0:p1:${path}`])
      .split('\n')
      .filter(Boolean)
      .map(l => l.replace(/\s+/g, ' '))
      .sort()
  t.same(ours('/'), lsRoot, 'ls -l / equals GNU ls -ln of the mount')
  t.same(ours('/dir-block'), lsBlock, 'ls -l /dir-block equals GNU ls -ln')

  const out = join(dir, 'out', 'tree')
  cli(['get', '-r', '-q', '--xattrs', archive, 'scsi0:p1:/', out])
  const bad: string[] = []
  for (const [rel, e] of want) {
    if (e.type === 'fifo' || e.type === 'chardev') continue // not created (said on stderr)
    const p = rel ? join(out, rel) : out
    let st: BigIntStats
    try {
      st = lstatSync(p, { bigint: true })
    } catch {
      bad.push(`/${rel}: missing`)
      continue
    }
    const eq = (what: string, got: unknown, exp: unknown) => {
      if (String(got) !== String(exp)) bad.push(`/${rel}: ${what} ${got} != ${exp}`)
    }
    eq('type', st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : '?', e.type)
    eq('owner', `${st.uid}:${st.gid}`, `${e.uid}:${e.gid}`)
    if (e.type !== 'symlink') eq('mode', (Number(st.mode) & 0o7777).toString(8), e.perm.toString(8))
    // utimes takes seconds as a double: within 1 µs of the stored nanoseconds (docs/limitations.md).
    const off = st.mtimeNs - e.mtimeNs
    if (off > 1000n || off < -1000n) bad.push(`/${rel}: mtime ${st.mtimeNs} != ${e.mtimeNs}`)
    if (e.type === 'file') {
      eq('size', st.size, e.size)
      eq('sha256', createHash('sha256').update(readFileSync(p)).digest('hex'), e.sha)
    }
    if (e.type === 'symlink') eq('target', readlinkSync(p, { encoding: 'buffer' }).toString('hex'), e.target?.toString('hex'))
  }
  t.same(bad, [], 'every file, directory and symlink as the mount showed it')
  t.ok(lstatSync(join(out, 'sparse')).blocks * 512 < 64 * 1024, 'the sparse file keeps its holes')
  t.ok(lstatSync(join(out, 'prealloc')).blocks * 512 < 64 * 1024, 'unwritten extents become holes')
  t.ok(lstatSync(join(out, 'holes')).blocks * 512 <= 201 * 4096, 'every other block a hole')
  t.equal(lstatSync(join(out, 'hardlink')).ino, lstatSync(join(out, 'small.txt')).ino, 'the hard link stays one')
  t.match(must(run('getfattr', ['--absolute-names', '-n', 'user.small', '--only-values', join(out, 'xattr-sf')]), 'getfattr'), /^hello$/, 'the xattr')
  t.equal(must(run('getfacl', ['-n', '--absolute-names', join(out, 'small.txt')]), 'getfacl').replace(/^# file:.*\n/, ''), acl, 'the ACL')
})
