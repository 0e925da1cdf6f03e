// One error text per failure (issue #26): the same damage to an archive reads
// the same whichever way vma-opt took through it. Each damage is run through
// every command that reads an archive (verify, unpack, optimize with its read
// paths: one pass over a .zst, --keep-uuid's check then reread or spool,
// --spool, a plain file's overlapped passes) and, for a .zst, through each of
// the three zstd decoders (libzstd, the zstd program, fzstd). Exit status,
// error code and message agree; only the decoder's own words, in the
// parentheses that end a compression error, may differ.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { libzstd, libzstdMissing } from '../src/util/libzstd.js'
import { makeContent, makeVma } from './fixtures/make-vma.js'
import { cliInProcess } from './helpers.js'
import { needTools } from './tools.js'

const MiB = 1 << 20
const skip = needTools('zstd') || (!libzstd() && `the zstd-napi binding did not load: ${libzstdMissing()}`)
const DECODERS = ['library', 'program', 'fzstd'] as const

/** Three interleaved devices, as vzdump writes them; optimize --keep-uuid then spools after its check. */
const SIZE = 1 * MiB
const devices = [0, 1, 2].map(i => ({ name: `drive-scsi${i}`, size: SIZE, data: makeContent(SIZE, i + 5) }))
const zstd = (b: Buffer) => spawnSync('zstd', ['-c', '-q', '-3'], { input: b, maxBuffer: 64 << 20 }).stdout as Buffer

interface Damage {
  name: string
  /** The damaged archive, plain (when the damage is to the archive itself) and compressed. */
  plain?: Buffer
  zst: Buffer
  code: string
  /** The message every path gives, less the name of the file and the decoder's parenthesis. */
  message: string
}

function damages(): Damage[] {
  const built = makeVma({ devices, order: 'interleaved', seed: 3 })
  const good = built.buf
  const z = zstd(good)
  // A byte of the last frame's content checksum: the data decodes, the check tells.
  const checksum = Buffer.from(z)
  checksum[checksum.length - 2]! ^= 0x55
  // The first block's type made the reserved one (3), which every decoder must refuse. Its header
  // follows the frame header: magic, descriptor, window byte unless single-segment, dictionary id, content size.
  const block = Buffer.from(z)
  const fhd = z[4]!
  const single = (fhd >> 5) & 1
  const at = 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3]! + [single, 2, 4, 8][fhd >> 6]!
  block[at]! |= 0b110
  const cut = good.subarray(0, Math.floor(good.length * 0.6))
  // The extent the cut falls in, and how much of it is left.
  const ends = [...built.extents, good.length]
  let k = 0
  while (ends[k + 1]! <= cut.length) k++
  const [start, end] = [ends[k]!, ends[k + 1]!]
  const clusters = SIZE / 65536
  const order = devices.flatMap((_, i) => Array.from({ length: clusters }, (_, c) => ({ dev: i + 1, cluster: c }))).filter(e => !(e.dev === 2 && e.cluster === 7))
  const missing = makeVma({ devices, order, seed: 3 }).buf
  return [
    { name: 'a .zst cut short', zst: z.subarray(0, Math.floor(z.length * 0.6)), code: 'VMA_COMPRESSION_CORRUPT', message: 'truncated: the compressed stream ends early' },
    { name: "a frame's content checksum changed", zst: checksum, code: 'VMA_COMPRESSION_CORRUPT', message: "zstd data is corrupt: a frame's content checksum does not match its data" },
    { name: 'a block header changed', zst: block, code: 'VMA_COMPRESSION_CORRUPT', message: 'zstd data is corrupt: a frame is malformed' },
    {
      name: 'the archive cut short, then compressed',
      plain: cut,
      zst: zstd(cut),
      code: 'VMA_EXTENT_TRUNCATED',
      message: `extent at offset ${start}: truncated: the extent needs ${end - start} bytes, only ${cut.length - start} are present`,
    },
    {
      name: 'a cluster missing',
      plain: missing,
      zst: zstd(missing),
      code: 'VMA_MISSING_CLUSTER',
      message: `archive: device drive-scsi1 lacks 1 of its ${clusters} clusters (first missing: cluster 7)`,
    },
  ]
}

/** Every command line that reads `src`, writing (if it writes) into `dir`. */
function commands(src: string, dir: string): [string, string[]][] {
  return [
    ['verify', ['verify', src]],
    ['unpack', ['unpack', src, join(dir, 'unpacked')]],
    ['optimize', ['optimize', src, join(dir, 'out.vma')]],
    ['optimize --keep-uuid', ['optimize', '--keep-uuid', src, join(dir, 'out.vma')]],
    ['optimize --spool', ['optimize', '--spool', src, join(dir, 'out.vma')]],
  ]
}

/** `vma-opt: FILE: MESSAGE (CODE)` less FILE and, for a compression error, the decoder's parenthesis. */
function parse(stderr: string, file: string): { message: string; code: string } | undefined {
  const head = `vma-opt: ${file}: `
  const m = /^(.*) \((VMA_[A-Z_]+)\)\n$/.exec(stderr.startsWith(head) ? stderr.slice(head.length) : '')
  if (!m) return undefined
  const message = m[2] === 'VMA_COMPRESSION_CORRUPT' ? m[1]!.replace(/ \([^()]*(\([^()]*\)[^()]*)*\)$/, '') : m[1]!
  return { message, code: m[2]! }
}

t.test('the same damage gives the same exit status, code and message on every path and decoder', { skip }, async t => {
  for (const d of damages()) {
    t.test(d.name, async t => {
      const dir = t.testdir()
      const inputs: [string, string, string | undefined][] = DECODERS.map(dec => ['a.vma.zst', `zstd ${dec}`, dec])
      writeFileSync(join(dir, 'a.vma.zst'), d.zst)
      if (d.plain) {
        writeFileSync(join(dir, 'a.vma'), d.plain)
        inputs.unshift(['a.vma', 'plain', undefined])
      }
      const seen = new Set<string>()
      for (const [name, how, decoder] of inputs) {
        const src = join(dir, name)
        for (const [what, args] of commands(src, dir)) {
          const r = await cliInProcess(args, decoder ? { env: { VMA_OPT_ZSTD_DECODER: decoder } } : {})
          const got = parse(r.stderr, src)
          t.equal(r.status, 1, `${what}, ${how}: exit 1`)
          t.same(got, { message: d.message, code: d.code }, `${what}, ${how}: ${r.stderr.trim()}`)
          seen.add(JSON.stringify(got))
          t.same(readdirSync(dir).sort(), existsSync(join(dir, 'a.vma')) ? ['a.vma', 'a.vma.zst'] : ['a.vma.zst'], `${what}, ${how}: nothing left behind`)
        }
      }
      t.equal(seen.size, 1, 'one text')
    })
  }
})
