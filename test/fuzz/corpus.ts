// The archives the fuzzer starts from: the fixtures Proxmox's vma wrote
// (../shared/fixtures), archives the built vma-opt writes (optimize, pack,
// compressed ones) and, when Proxmox's vma runs here, a fresh `vma create`
// archive with the real writer's interleaving. All small enough that a case
// takes about a second.

import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createWithProxmox, type ProxmoxVma } from '../proxmox-vma.js'
import { fixHeaderMd5, rng } from './mutate.js'

export type Packing = 'none' | 'zst' | 'gz' | 'lzo'

export interface Seed {
  name: string
  /** The file as it is (compressed or not). */
  path: string
  bytes: Buffer
  packing: Packing
  /** The plain VMA stream (the same bytes when not compressed). */
  plain: Buffer
  /** A plain copy on disk, the reference for compare. */
  plainPath: string
}

const TOOLS: Record<Exclude<Packing, 'none'>, { pack: string[]; unpack: string[] }> = {
  zst: { pack: ['zstd', '-q', '-c'], unpack: ['zstd', '-q', '-d', '-c'] },
  gz: { pack: ['gzip', '-n', '-c'], unpack: ['gzip', '-d', '-c'] },
  lzo: { pack: ['lzop', '-c'], unpack: ['lzop', '-d', '-c'] },
}

export function compress(b: Buffer, how: Exclude<Packing, 'none'>): Buffer {
  const [cmd, ...args] = TOOLS[how].pack
  const r = spawnSync(cmd!, args, { input: b, maxBuffer: 1 << 30 })
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`)
  return r.stdout
}

function decompress(b: Buffer, how: Packing): Buffer {
  if (how === 'none') return b
  const [cmd, ...args] = TOOLS[how].unpack
  const r = spawnSync(cmd!, args, { input: b, maxBuffer: 1 << 30 })
  if (r.status !== 0) throw new Error(`${cmd} -d failed: ${r.stderr}`)
  return r.stdout
}

export function packingOf(b: Buffer): Packing {
  if (b.length >= 4 && b.readUInt32LE(0) === 0xfd2fb528) return 'zst'
  if (b[0] === 0x1f && b[1] === 0x8b) return 'gz'
  if (b[0] === 0x89 && b[1] === 0x4c && b[2] === 0x5a && b[3] === 0x4f) return 'lzo'
  return 'none'
}

/** Disk-like bytes: random runs, text, zeros and lone blocks, deterministic. */
export function content(size: number, seed: number): Buffer {
  const r = rng(seed)
  const b = Buffer.alloc(size)
  for (let pos = 0; pos < size; ) {
    const len = Math.min(size - pos, (1 + Math.floor(r() * 20)) * 4096)
    const kind = Math.floor(r() * 4)
    if (kind === 0) for (let i = 0; i < len; i++) b[pos + i] = Math.floor(r() * 256)
    else if (kind === 1) b.write('fuzz me gently '.repeat(Math.ceil(len / 15)).slice(0, len), pos, 'latin1')
    else if (kind === 2) b[pos + Math.floor(r() * len)] = 7
    pos += len
  }
  return b
}

export function cli(bin: string, args: string[], cwd: string): void {
  const env = { ...process.env }
  delete env.NODE_OPTIONS
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, env, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`vma-opt ${args.join(' ')} failed: ${r.stderr}`)
}

/** Builds the corpus in `dir` (created). */
export function buildCorpus(dir: string, bin: string, shared: string, vma: ProxmoxVma): Seed[] {
  mkdirSync(dir, { recursive: true })
  const files: string[] = []
  for (const f of ['two-disks.vma', 'two-disks-reordered.vma', 'odd-size.vma', 'no-disks.vma', 'two-disks.vma.zst', 'two-disks.vma.gz', 'two-disks.vma.lzo']) {
    if (!existsSync(join(shared, f))) continue
    copyFileSync(join(shared, f), join(dir, f))
    files.push(f)
  }
  // What vma-opt writes: a small pack (odd sizes), its compressed forms, and optimized fixtures.
  const src = join(dir, 'pack-src')
  mkdirSync(src, { recursive: true })
  writeFileSync(join(src, 'qemu-server.conf'), 'cores: 1\nmemory: 512\n#qmdump#map:scsi0:drive-scsi0:local:raw:\n#qmdump#map:efidisk0:drive-efidisk0:local:raw:\n')
  writeFileSync(join(src, 'disk-drive-scsi0.raw'), content(300 * 1024 + 512, 1))
  writeFileSync(join(src, 'disk-drive-efidisk0.raw'), content(540672, 2))
  writeFileSync(join(src, 'disk-drive-scsi1.raw'), content(70 * 1024, 3))
  cli(bin, ['pack', 'pack-src', 'packed.vma', '--ctime', '1700000000', '-q'], dir)
  cli(bin, ['pack', 'pack-src', 'packed.vma.zst', '--ctime', '1700000000', '-q'], dir)
  files.push('packed.vma', 'packed.vma.zst')
  // A legacy vmstate stream: pack refuses the name, so a packed device of the same name length is renamed.
  const st = join(dir, 'state-src')
  mkdirSync(st, { recursive: true })
  writeFileSync(join(st, 'qemu-server.conf'), 'memory: 512\n')
  writeFileSync(join(st, 'disk-drive-scsi0.raw'), content(128 * 1024, 4))
  writeFileSync(join(st, 'disk-state00.raw'), content(5 * 65536 + 4096, 5))
  cli(bin, ['pack', 'state-src', 'state.vma', '--ctime', '1700000000', '-q'], dir)
  const state = readFileSync(join(dir, 'state.vma'))
  const at = state.indexOf('state00\0', 12288, 'latin1')
  if (at > 0) {
    state.write('vmstate', at, 'latin1')
    fixHeaderMd5(state)
    writeFileSync(join(dir, 'vmstate.vma'), state)
    files.push('vmstate.vma')
  }
  if (files.includes('two-disks.vma')) {
    cli(bin, ['optimize', 'two-disks.vma', 'opt-two-disks.vma', '-q'], dir)
    files.push('opt-two-disks.vma')
  }
  if (files.includes('odd-size.vma')) {
    cli(bin, ['optimize', 'odd-size.vma', 'opt-odd-size.vma.gz', '-q'], dir)
    files.push('opt-odd-size.vma.gz')
  }
  if (vma.ok) {
    const r = createWithProxmox(
      vma.path,
      join(dir, 'created.vma'),
      [join(src, 'qemu-server.conf')],
      [
        { name: 'drive-scsi0', path: join(src, 'disk-drive-scsi0.raw') },
        { name: 'drive-scsi1', path: join(src, 'disk-drive-scsi1.raw') },
      ],
    )
    if (r.status === 0) files.push('created.vma')
  }
  return files.map(f => {
    const path = join(dir, f)
    const bytes = readFileSync(path)
    const packing = packingOf(bytes)
    const plain = decompress(bytes, packing)
    const plainPath = packing === 'none' ? path : join(dir, `${f}.plain`)
    if (packing !== 'none') writeFileSync(plainPath, plain)
    return { name: f, path, bytes, packing, plain, plainPath }
  })
}

/** A delta made by `diff`, what a correct apply gives, and the disks it stands for. */
export interface DeltaSeed {
  name: string
  /** The full archive the delta applies to. */
  base: string
  delta: Buffer
  deltaPath: string
  /** BASE's disks. */
  baseDisks: { name: string; data: Buffer }[]
  /** `optimize NEW`: byte for byte what apply must write. */
  reference: Buffer
  /** NEW's disks, what serve BASE DELTA must export. */
  disks: { name: string; data: Buffer }[]
}

/**
 * BASE and NEW built with pack (and, when it runs here, Proxmox's vma for
 * the real writer's interleaving), NEW changed in places, grown and with a
 * zeroed range; DELTA = diff BASE NEW, plain and zstd-compressed.
 */
export function buildDeltaCorpus(dir: string, bin: string, vma: ProxmoxVma): DeltaSeed[] {
  mkdirSync(dir, { recursive: true })
  const conf = 'cores: 1\nmemory: 512\n'
  const baseDisks = [
    { name: 'drive-scsi0', data: content(300 * 1024 + 512, 11) },
    { name: 'drive-efidisk0', data: content(540672, 12) },
    { name: 'drive-scsi1', data: content(6 * 65536, 13) },
  ]
  const newDisks = baseDisks.map(d => ({ name: d.name, data: Buffer.from(d.data) }))
  newDisks[0]!.data.fill(0x33, 70000, 140000)
  newDisks[0]!.data.fill(0, 200000, 260000)
  newDisks[1]!.data.fill(9, 0, 4096)
  newDisks[2] = { name: 'drive-scsi1', data: Buffer.concat([newDisks[2]!.data, content(2 * 65536 + 4096, 14)]) }
  const write = (sub: string, disks: { name: string; data: Buffer }[]) => {
    mkdirSync(join(dir, sub), { recursive: true })
    writeFileSync(join(dir, sub, 'qemu-server.conf'), conf)
    for (const d of disks) writeFileSync(join(dir, sub, `disk-${d.name}.raw`), d.data)
  }
  write('base-src', baseDisks)
  write('new-src', newDisks)
  const pairs: [string, string, string][] = []
  cli(bin, ['pack', 'base-src', 'base.vma', '--ctime', '1700000000', '-q'], dir)
  cli(bin, ['pack', 'new-src', 'new.vma', '--ctime', '1700086400', '-q'], dir)
  pairs.push(['packed', 'base.vma', 'new.vma'])
  if (vma.ok) {
    const made = (name: string, sub: string) =>
      createWithProxmox(
        vma.path,
        join(dir, name),
        [join(dir, sub, 'qemu-server.conf')],
        baseDisks.map(d => ({ name: d.name, path: join(dir, sub, `disk-${d.name}.raw`) })),
      ).status === 0
    if (made('pbase.vma', 'base-src') && made('pnew.vma', 'new-src')) pairs.push(['proxmox', 'pbase.vma', 'pnew.vma'])
  }
  const out: DeltaSeed[] = []
  for (const [name, base, next] of pairs) {
    cli(bin, ['optimize', next, `${next}.ref`, '-q'], dir)
    const reference = readFileSync(join(dir, `${next}.ref`))
    for (const suffix of ['', '.zst']) {
      const delta = `${name}.vma-delta${suffix}`
      cli(bin, ['diff', base, next, delta, '-q'], dir)
      out.push({ name: delta, base: join(dir, base), delta: readFileSync(join(dir, delta)), deltaPath: join(dir, delta), baseDisks, reference, disks: newDisks })
    }
  }
  return out
}
