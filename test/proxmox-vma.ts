// Proxmox's own `vma` program (found by test/tools.ts: $VMA_PROXMOX or ../shared/tools/proxmox-vma/vma)
// as a judge of what vma-opt writes: find it, check it can start on this
// machine, and run verify, extract, list and create. Used by the test suite
// and by the fuzzer (compiled with it), so it imports nothing from tap.
//
// For a test:  const vma = proxmoxVma()
//              t.test('...', { skip: vma.ok ? false : vma.reason }, async t => {
//                await assertProxmoxReads(t, vma.path, 'out.vma.zst',
//                  { devices: { 'drive-scsi0': SHA256 }, configs: { 'qemu-server.conf': SHA256 } }, 'label')
//              })

import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { createHash } from 'node:crypto'
import { closeSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { ROOT } from './tools.js'

// Found by test/tools.ts, the one place every external tool is found.
export { proxmoxVma, type ProxmoxVma } from './tools.js'

export interface Run {
  status: number | null
  stdout: string
  stderr: string
}

function run(cmd: string, args: string[], timeoutMs = 120_000, env: NodeJS.ProcessEnv = process.env): Run {
  const r: SpawnSyncReturns<string> = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20, env })
  return { status: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') }
}

/** Compression of a file by its magic bytes, to hand Proxmox's vma a plain archive. */
function compressionOf(file: string): 'zst' | 'gz' | 'lzo' | 'none' {
  const b = Buffer.alloc(9)
  const fd = openSync(file, 'r')
  try {
    readSync(fd, b, 0, 9, 0)
  } finally {
    closeSync(fd)
  }
  if (b.readUInt32LE(0) === 0xfd2fb528) return 'zst'
  if (b[0] === 0x1f && b[1] === 0x8b) return 'gz'
  if (b.equals(Buffer.from([0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'lzo'
  return 'none'
}

/**
 * A plain copy of `archive` in `workDir` when it is compressed (by the
 * system's zstd, gzip or lzop, as qmrestore decompresses), else the archive.
 */
export function plainArchive(archive: string, workDir: string): string {
  const c = compressionOf(archive)
  if (c === 'none') return archive
  const tool = { zst: ['zstd', '-q', '-d', '-c'], gz: ['gzip', '-d', '-c'], lzo: ['lzop', '-d', '-c'] }[c]
  const r = spawnSync(tool[0]!, [...tool.slice(1), archive], { maxBuffer: 4 << 30 })
  if (r.status !== 0) throw new Error(`${tool[0]} -d ${archive} failed: ${r.stderr?.toString() ?? r.error}`)
  mkdirSync(workDir, { recursive: true })
  const out = join(workDir, `plain-${process.pid}-${Date.now()}.vma`)
  writeFileSync(out, r.stdout)
  return out
}

export const verifyWithProxmox = (vma: string, archive: string): Run => run(vma, ['verify', archive])
export const listWithProxmox = (vma: string, archive: string): Run => run(vma, ['list', archive])
/** `vma extract`; `target` must not exist. */
export const extractWithProxmox = (vma: string, archive: string, target: string): Run => run(vma, ['extract', archive, target])

/** `vma create OUT -c CONFIG... drive=IMAGE...`: an archive written by the real writer. */
export function createWithProxmox(vma: string, out: string, configs: string[], drives: { name: string; path: string }[]): Run {
  return run(vma, ['create', out, ...configs.flatMap(c => ['-c', c]), ...drives.map(d => `${d.name}=${d.path}`)])
}

const sha256File = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex')

/** What `vma extract` wrote: sha256 per device name (disk-NAME.raw, vmstate.bin as "vmstate") and per config. */
export interface Extracted {
  devices: Record<string, string>
  sizes: Record<string, number>
  configs: Record<string, string>
}

export function sumsOf(dir: string): Extracted {
  const out: Extracted = { devices: {}, sizes: {}, configs: {} }
  for (const f of readdirSync(dir).sort()) {
    const p = join(dir, f)
    const m = /^disk-(.+)\.raw$/.exec(f)
    const dev = m ? m[1]! : f === 'vmstate.bin' ? 'vmstate' : undefined
    if (dev) {
      out.devices[dev] = sha256File(p)
      out.sizes[dev] = statSync(p).size
    } else out.configs[f] = sha256File(p)
  }
  return out
}

/** sha256 per device name and per config name, as `sumsOf` gives them. */
export type Expected = Pick<Extracted, 'devices' | 'configs'>

/** The assertions used (tap's Test has them). */
export interface Asserts {
  same(found: unknown, wanted: unknown, message: string): boolean
  equal(found: unknown, wanted: unknown, message: string): boolean
}

/** What `vma-opt info --list` prints, by the built CLI (bin/vma-opt). */
export function vmaOptInfoList(archive: string): Run {
  // Without a test runner's loaders, as users run it.
  const env = { ...process.env }
  delete env.NODE_OPTIONS
  return run(process.execPath, [join(ROOT, 'bin', 'vma-opt'), 'info', '--list', archive], 120_000, env)
}

/**
 * The whole proof for one archive vma-opt wrote: Proxmox's vma verifies it,
 * extracts exactly `want` (sha256 per device and config, nothing more), and
 * `vma list` prints what `vma-opt info --list` prints. Decompresses first
 * when the archive is compressed. Temporary files go to `workDir` (default
 * the archive's directory).
 */
export async function assertProxmoxReads(t: Asserts, vma: string, archive: string, want: Expected, label: string, o: ProofOptions = {}): Promise<void> {
  const v = proxmoxReads(vma, archive, o.workDir ?? dirname(archive))
  t.same(v.problems, [], `${label}: vma verify, extract and list accept it`)
  t.same(v.extracted?.devices, want.devices, `${label}: vma extract gives every device's expected sha256`)
  t.same(v.extracted?.configs, want.configs, `${label}: and every config's`)
  const ours = o.infoList ? { status: 0, stdout: await o.infoList(archive), stderr: '' } : vmaOptInfoList(archive)
  t.equal(ours.status, 0, `${label}: vma-opt info --list succeeds ${ours.stderr}`)
  t.equal(ours.stdout, v.list, `${label}: vma list prints what vma-opt info --list prints`)
}

export interface ProofOptions {
  /** Where temporary files go (default: the archive's directory). */
  workDir?: string
  /** How to get `vma-opt info --list` output (default: run bin/vma-opt; a test may run the CLI in process). */
  infoList?: (archive: string) => Promise<string>
}

export interface ProxmoxVerdict {
  /** Empty when Proxmox's vma verifies and extracts the archive. */
  problems: string[]
  extracted?: Extracted
  /** stdout of `vma list`. */
  list?: string
}

/**
 * Runs `vma verify`, `vma extract` (into `workDir`/extract-N, removed after)
 * and `vma list` on `archive` (decompressed first if need be). The archive
 * passes when `problems` is empty; compare `extracted` with what you expect.
 */
export function proxmoxReads(vma: string, archive: string, workDir: string): ProxmoxVerdict {
  const problems: string[] = []
  const plain = plainArchive(archive, workDir)
  try {
    const v = verifyWithProxmox(vma, plain)
    if (v.status !== 0) problems.push(`vma verify exits ${v.status}: ${v.stderr.trim().split('\n').pop()}`)
    const target = join(workDir, `extract-${process.pid}-${Date.now()}-${Math.floor(Math.random() * 1e9)}`)
    const x = extractWithProxmox(vma, plain, target)
    if (x.status !== 0) problems.push(`vma extract exits ${x.status}: ${x.stderr.trim().split('\n').pop()}`)
    const extracted = x.status === 0 ? sumsOf(target) : undefined
    rmSync(target, { recursive: true, force: true })
    const l = listWithProxmox(vma, plain)
    if (l.status !== 0) problems.push(`vma list exits ${l.status}: ${l.stderr.trim().split('\n').pop()}`)
    return { problems, extracted, list: l.status === 0 ? l.stdout : undefined }
  } finally {
    if (plain !== archive) rmSync(plain, { force: true })
  }
}
