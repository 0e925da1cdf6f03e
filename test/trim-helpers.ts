// Shared by the test/trim-*.test.ts files: fixture location, decompression,
// applying a plan's zeroer to an image copy, running e2fsprogs.
import { existsSync, readFileSync } from 'node:fs'
import { openSync, readSync, writeSync, closeSync, fstatSync, ftruncateSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { execFileSync, spawnSync } from 'node:child_process'
import { join, resolve } from 'node:path'
import { planTrim, type TrimPlan } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { ROOT, needTools } from './tools.js'

export { ROOT }
/** ../shared/fixtures/trim, or $VMA_FIXTURES/trim. */
export const TRIM_FIXTURES = process.env.VMA_FIXTURES ? join(process.env.VMA_FIXTURES, 'trim') : resolve(ROOT, '..', 'shared', 'fixtures', 'trim')

export { haveTool } from './tools.js'

/** Why the fixture tests cannot run, or undefined. */
export function fixturesMissing(): string | undefined {
  if (!existsSync(join(TRIM_FIXTURES, 'manifest.json'))) return `trim fixtures not found at ${TRIM_FIXTURES}`
  return needTools('zstd') || undefined
}

export interface ManifestVolume {
  id: string
  kind: string
  offset: number
  length: number
  segments?: { lv_offset: number; offset: number; length: number }[]
  decision: 'trim' | 'skip' | 'container' | 'optional'
  reason?: string
  sha256?: string
  free_bytes?: number
  free_nonzero_bytes?: number
  files?: { path: string; size: number; sha256: string }[]
  fsynced_file?: { path: string; size: number; sha256: string }
  union?: { decision: string; free_bytes: number; sha256_after_union_trim: string }
}

export interface ManifestImage {
  name: string
  file: string
  apparent_size: number
  sha256: string
  partition_table: 'gpt' | 'mbr' | 'none'
  sha256_after_trim: string
  sha256_after_trim_with_optional?: string
  trim_changes_bytes: number
  volumes: ManifestVolume[]
}

export function manifest(): ManifestImage[] {
  return (JSON.parse(readFileSync(join(TRIM_FIXTURES, 'manifest.json'), 'utf8')) as { images: ManifestImage[] }).images
}

export function freeJson(name: string): Record<string, [number, number][]> {
  return (JSON.parse(readFileSync(join(TRIM_FIXTURES, `${name}.free.json`), 'utf8')) as { ranges: Record<string, [number, number][]> }).ranges
}

/** Decompresses NAME.img.zst into dir, returns the path. */
export function decompress(name: string, dir: string): string {
  const out = join(dir, `${name}.img`)
  execFileSync('zstd', ['-q', '-d', '--long=27', '-f', join(TRIM_FIXTURES, `${name}.img.zst`), '-o', out])
  return out
}

export function mergeRanges(rs: [number, number][]): [number, number][] {
  const sorted = rs.map(r => [r[0], r[1]] as [number, number]).sort((a, b) => a[0] - b[0])
  const out: [number, number][] = []
  for (const [o, n] of sorted) {
    const last = out[out.length - 1]
    if (last && o <= last[0] + last[1]) last[1] = Math.max(last[1], o + n - last[0])
    else out.push([o, n])
  }
  return out
}

const CLUSTER = 65536

/** The trim plan of one disk image, named 'd' (strict journal rule). */
export async function planImage(img: string, lvmFree = false): Promise<TrimPlan> {
  const d = await openFileDisk(img, 'd')
  try {
    return await planTrim([d], { journal: 'strict', lvmFree })
  } finally {
    await d.close()
  }
}

/**
 * Streams `src` through the plan's zeroer 64 KiB at a time into `dst` (sparse:
 * all-zero clusters are not written). Returns the sha256 of the input and of
 * the result, how many bytes changed, and, when `expectRanges` (sorted) is
 * given, the sha256 of the input with exactly those ranges zeroed: an
 * expectation computed independently of the zeroer, in the same pass.
 */
export async function applyZeroer(
  plan: TrimPlan,
  diskName: string,
  src: string,
  dst: string,
  expectRanges?: [number, number][],
): Promise<{ sha256: string; inputSha256: string; expectedSha256?: string; changed: number; zeroed: number }> {
  const zeroer = plan.zeroer(diskName)
  const inp = openSync(src, 'r')
  const out = openSync(dst, 'w')
  const size = fstatSync(inp).size
  const h = createHash('sha256')
  const hIn = createHash('sha256')
  const hExp = createHash('sha256')
  const buf = Buffer.alloc(CLUSTER)
  const before = Buffer.alloc(CLUSTER)
  const zero = Buffer.alloc(CLUSTER)
  let changed = 0
  let zeroed = 0
  let ri = 0
  for (let off = 0; off < size; off += CLUSTER) {
    const n = Math.min(CLUSTER, size - off)
    const b = buf.subarray(0, n)
    readSync(inp, b, 0, n, off)
    b.copy(before)
    hIn.update(b)
    zeroed += zeroer.apply(off, b)
    if (!b.equals(before.subarray(0, n))) for (let i = 0; i < n; i++) if (b[i] !== before[i]) changed++
    h.update(b)
    if (expectRanges) {
      while (ri < expectRanges.length && expectRanges[ri]![0] + expectRanges[ri]![1] <= off) ri++
      for (let k = ri; k < expectRanges.length && expectRanges[k]![0] < off + n; k++) {
        const [o, l] = expectRanges[k]!
        before.fill(0, Math.max(0, o - off), Math.min(n, o + l - off))
      }
      hExp.update(before.subarray(0, n))
    }
    if (!b.equals(zero.subarray(0, n))) writeSync(out, b, 0, n, off)
  }
  ftruncateSync(out, size)
  closeSync(inp)
  closeSync(out)
  return { sha256: h.digest('hex'), inputSha256: hIn.digest('hex'), ...(expectRanges ? { expectedSha256: hExp.digest('hex') } : {}), changed, zeroed }
}

/** sha256 of bytes [offset, offset+length) of a file, or of the concatenated segments. */
export async function sha256Of(path: string, parts: { offset: number; length: number }[]): Promise<string> {
  const fd = openSync(path, 'r')
  const h = createHash('sha256')
  const buf = Buffer.alloc(1 << 20)
  for (const { offset, length } of parts) {
    for (let done = 0; done < length; ) {
      const n = Math.min(buf.length, length - done)
      readSync(fd, buf, 0, n, offset + done)
      h.update(buf.subarray(0, n))
      done += n
    }
  }
  closeSync(fd)
  return h.digest('hex')
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

/** Copies volume bytes (concatenated parts) of an image into their own file, for e2fsck/debugfs. */
export async function extractVolume(img: string, parts: { offset: number; length: number }[], out: string): Promise<void> {
  const inp = openSync(img, 'r')
  const o = openSync(out, 'w')
  const buf = Buffer.alloc(1 << 20)
  let pos = 0
  for (const { offset, length } of parts) {
    for (let done = 0; done < length; ) {
      const n = Math.min(buf.length, length - done)
      readSync(inp, buf, 0, n, offset + done)
      writeSync(o, buf, 0, n, pos)
      pos += n
      done += n
    }
  }
  closeSync(inp)
  closeSync(o)
}

export function run(cmd: string, args: string[], env: Record<string, string> = {}): { status: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } })
  return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}` }
}

/** sha256 of a file inside an ext volume, via debugfs dump. */
export function extFileSha(vol: string, path: string, tmp: string): string {
  const out = join(tmp, 'dump.bin')
  const r = run('debugfs', ['-R', `dump ${path} ${out}`, vol])
  if (r.status !== 0 || !existsSync(out)) throw new Error(`debugfs dump ${path}: ${r.out}`)
  const s = sha256File(out)
  execFileSync('rm', ['-f', out])
  return s
}

/** Fills a new file of `size` bytes with non-zero text garbage ("garbage block N"), like the fixtures. */
export function writeGarbage(path: string, size: number): void {
  const fd = openSync(path, 'w')
  const block = Buffer.alloc(65536)
  for (let off = 0; off < size; off += block.length) {
    for (let b = 0; b < block.length; b += 4096) block.fill(`garbage block ${(off + b) / 4096} `, b, b + 4096)
    writeSync(fd, block, 0, Math.min(block.length, size - off), off)
  }
  closeSync(fd)
}

/** Bytes that differ between two files outside the given sorted ranges (must be 0 after a trim). */
export function changedOutside(a: string, b: string, ranges: [number, number][]): number {
  const fa = openSync(a, 'r')
  const fb = openSync(b, 'r')
  const size = fstatSync(fa).size
  const ba = Buffer.alloc(1 << 20)
  const bb = Buffer.alloc(1 << 20)
  let diff = 0
  let ri = 0
  for (let off = 0; off < size; off += ba.length) {
    const n = Math.min(ba.length, size - off)
    readSync(fa, ba, 0, n, off)
    readSync(fb, bb, 0, n, off)
    while (ri < ranges.length && ranges[ri]![0] + ranges[ri]![1] <= off) ri++
    // blank the free ranges in both copies: whatever still differs changed outside them
    for (let k = ri; k < ranges.length && ranges[k]![0] < off + n; k++) {
      const s = Math.max(0, ranges[k]![0] - off)
      const e = Math.min(n, ranges[k]![0] + ranges[k]![1] - off)
      ba.fill(0, s, e)
      bb.fill(0, s, e)
    }
    if (ba.subarray(0, n).equals(bb.subarray(0, n))) continue
    for (let i = 0; i < n; i++) if (ba[i] !== bb[i]) diff++
  }
  closeSync(fa)
  closeSync(fb)
  return diff
}

/** Differing byte ranges [offset, length] between two files (merged), at most `max` of them. */
export function diffRanges(a: string, b: string, max = 64): [number, number][] {
  const fa = openSync(a, 'r')
  const fb = openSync(b, 'r')
  const size = fstatSync(fa).size
  const ba = Buffer.alloc(1 << 20)
  const bb = Buffer.alloc(1 << 20)
  const out: [number, number][] = []
  for (let off = 0; off < size && out.length < max; off += ba.length) {
    const n = Math.min(ba.length, size - off)
    readSync(fa, ba, 0, n, off)
    readSync(fb, bb, 0, n, off)
    if (ba.subarray(0, n).equals(bb.subarray(0, n))) continue
    for (let i = 0; i < n; i++) {
      if (ba[i] === bb[i]) continue
      const last = out[out.length - 1]
      if (last && last[0] + last[1] === off + i) last[1]++
      else out.push([off + i, 1])
    }
  }
  closeSync(fa)
  closeSync(fb)
  return out
}

export { skipHere } from './tools.js'
