// Real filesystems that share blocks, for the sharing tests: an image file
// in the test's directory, formatted (mkfs.xfs -m reflink=1, mkfs.btrfs),
// attached to a loop device and mounted; everything is undone in
// t.teardown, also when the test fails. Without root, loop devices or the
// tools, `whyNoLoopFs` says why (the test then skips with that reason).

import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { findTool } from '../src/util/find-tool.js'
import { extractWithProxmox, sumsOf, type Expected } from './proxmox-vma.js'

export type FsKind = 'xfs' | 'btrfs' | 'tmpfs' | 'ext4' | 'xfs-noreflink'

const MKFS: Record<FsKind, string[]> = {
  xfs: ['mkfs.xfs', '-q', '-m', 'reflink=1'],
  btrfs: ['mkfs.btrfs', '-q'],
  tmpfs: [],
  ext4: ['mkfs.ext4', '-q', '-F'],
  'xfs-noreflink': ['mkfs.xfs', '-q', '-m', 'reflink=0'],
}

function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 })
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`.trim() }
}

/** Why a loop-mounted `kind` cannot be made here, or false. */
export function whyNoLoopFs(kind: FsKind): string | false {
  if (process.getuid?.() !== 0) return 'mounting a filesystem needs root'
  const tools = kind === 'tmpfs' ? ['mount', 'umount'] : ['losetup', 'mount', 'umount', MKFS[kind][0]!, 'xfs_io']
  for (const tool of tools) if (!findTool(tool)) return `${tool} is not installed`
  if (kind !== 'tmpfs' && !findTool('filefrag')) return 'filefrag (e2fsprogs) is not installed'
  return false
}

interface Teardown {
  teardown(fn: () => void | Promise<void>): void
}

/**
 * Makes, attaches and mounts a `kind` filesystem of `mib` MiB; returns the
 * mount point. Image and mount point live in a directory of their own
 * (mkdtemp, removed in the teardown once unmounted: tap's t.testdir would be
 * removed before the teardown runs, and fail on a mounted directory). Throws
 * with the tool's words when that fails.
 */
export function loopFs(t: Teardown, kind: FsKind, mib: number): string {
  const dir = mkdtempSync(join(tmpdir(), `vma-opt-${kind}-`))
  const mnt = join(dir, 'mnt')
  mkdirSync(mnt)
  if (kind === 'tmpfs') {
    const m = run('mount', ['-t', 'tmpfs', '-o', `size=${mib}m`, 'tmpfs', mnt])
    t.teardown(() => {
      if (m.status === 0) run('umount', [mnt])
      rmSync(dir, { recursive: true, force: true })
    })
    if (m.status !== 0) throw new Error(`mount tmpfs: ${m.out}`)
    return mnt
  }
  const img = join(dir, `${kind}.img`)
  const removeDir = () => rmSync(dir, { recursive: true, force: true })
  writeFileSync(img, '')
  spawnSync('truncate', ['-s', `${mib}M`, img])
  const mk = run(MKFS[kind][0]!, [...MKFS[kind].slice(1), img])
  const lo = mk.status === 0 ? run('losetup', ['--find', '--show', img]) : undefined
  if (lo?.status !== 0) {
    removeDir()
    throw new Error(lo ? `losetup: ${lo.out}` : `${MKFS[kind][0]}: ${mk.out}`)
  }
  const dev = lo.out.split('\n').pop()!
  let mounted = false
  // One teardown, registered before mounting: unmount (if mounted), then detach, even when the mount fails.
  t.teardown(() => {
    if (mounted && run('umount', [mnt]).status !== 0) run('umount', ['-l', mnt])
    run('losetup', ['-d', dev])
    removeDir()
  })
  const m = run('mount', [dev, mnt])
  if (m.status !== 0) throw new Error(`mount ${kind}: ${m.out}`)
  mounted = true
  return mnt
}

/** Bytes in use on the filesystem at `mnt` after a sync, once the filesystem has freed what it frees in the background. */
export async function usedBytes(mnt: string): Promise<number> {
  let last = -1
  // XFS frees the blocks that sharing released in the background (inode GC): wait until two readings agree.
  for (let i = 0; i < 40; i++) {
    run('sync', ['-f', mnt])
    const r = run('df', ['-B1', '--output=used', mnt])
    const used = Number(r.out.split('\n').pop())
    if (used === last) return used
    last = used
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  return last
}

/** Bytes of `file` in extents that FIEMAP does not flag shared (filefrag -v, as e2fsprogs prints it). */
export function exclusiveBytes(file: string): number {
  const r = run('filefrag', ['-v', '-b4096', file])
  if (r.status !== 0) throw new Error(`filefrag ${file}: ${r.out}`)
  let bytes = 0
  for (const line of r.out.split('\n')) {
    const m = /^\s*\d+:\s+\d+\.\.\s*\d+:\s+\d+\.\.\s*\d+:\s+(\d+):.*$/.exec(line)
    if (m && !/shared/.test(line)) bytes += Number(m[1]) * 4096
  }
  return bytes
}

/** What Proxmox's vma extracts from an archive it reads (sha256 per device and config): the reference for archives it did not write. */
export function extractedSums(vma: string, file: string, dir: string): Expected {
  const target = join(dir, `ref-${Math.random().toString(36).slice(2)}`)
  const x = extractWithProxmox(vma, file, target)
  if (x.status !== 0) throw new Error(`vma extract ${file}: ${x.stderr}`)
  const s = sumsOf(target)
  rmSync(target, { recursive: true, force: true })
  return { devices: s.devices, configs: s.configs }
}
