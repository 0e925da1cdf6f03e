// Fault injection against the trim's read-back proof, through the real CLI
// (in process, runCli) with the planner replaced by a faulty one via
// t.mockImport. Two faults the proof exists for:
//  (a) a zeroer that clears one used byte more than the plan's free ranges
//      say: the content digest must differ, the command must fail and leave
//      nothing behind;
//  (b) a plan that is consistent with itself (free ranges and zeroer both
//      cover it) but declares one guarded metadata byte free: the content
//      digests agree, so only the metadata guard can catch it.
//  (c) the input read in the writing pass differs from the input checked
//      and digested in the first pass (a spool or index fault, or a source
//      changed between the passes): without --trim the proof compares with
//      the first pass's digests and fails; with --trim it must fail as well.
// A control run with the real planner shows the archive itself is fine.
import { readFileSync, readdirSync, existsSync, copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import t from 'tap'
import type { Test } from 'tap'
import * as realPlan from '../src/trim/plan.js'
import type { TrimPlan } from '../src/trim/plan.js'
import type { ClusterZeroer } from '../src/trim/zeroer.js'
import { mergeRanges, type Range } from '../src/trim/ranges.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { runCli } from '../src/cli/main.js'
import { buildExt, TOOLS_MISSING } from './trim-built-check.js'
import * as realReader from '../src/archive/archive-cluster-reader.js'

const NAME = 'drive-scsi0'
const OPTS = { journal: 'strict', lvmFree: false } as const

type Run = typeof runCli

async function inProcess(run: Run, args: string[]) {
  const out = new PassThrough()
  const err = new PassThrough()
  const errs: Buffer[] = []
  out.resume()
  err.on('data', c => errs.push(c))
  const code = await run(args, { stdout: out, stderr: err } as never)
  return { code, stderr: Buffer.concat(errs).toString() }
}

/** A zeroer that also clears device byte `at` of disk NAME. */
function plusByte(z: ClusterZeroer, name: string, at: number): ClusterZeroer {
  return {
    apply(off: number, buf: Buffer): number {
      const n = z.apply(off, buf)
      if (name === NAME && at >= off && at < off + buf.length) buf[at - off] = 0
      return n
    },
  }
}

/**
 * The CLI with planTrim replaced by `fault(realPlan)`. tap's mocks apply to
 * the module imported and its direct imports only, so the chain from the CLI
 * down to the trim step is rebuilt with the mock at the bottom.
 */
async function cliWith(t: Test, fault: (p: TrimPlan) => TrimPlan): Promise<Run> {
  const plan = {
    ...realPlan,
    planTrim: async (...a: Parameters<typeof realPlan.planTrim>) => fault(await realPlan.planTrim(...a)),
  }
  const step = await t.mockImport('../src/trim/trim-step.js', { '../src/trim/plan.js': plan })
  const optimize = await t.mockImport('../src/optimize/optimize.js', { '../src/trim/trim-step.js': step })
  const pack = await t.mockImport('../src/pack/pack.js', { '../src/trim/trim-step.js': step })
  const optCmd = await t.mockImport('../src/cli/commands/optimize.js', { '../src/optimize/optimize.js': optimize })
  const packCmd = await t.mockImport('../src/cli/commands/pack.js', { '../src/pack/pack.js': pack })
  const m = await t.mockImport<typeof import('../src/cli/main.js')>('../src/cli/main.js', {
    '../src/cli/commands/optimize.js': optCmd,
    '../src/cli/commands/pack.js': packCmd,
  })
  return m.runCli
}

if (TOOLS_MISSING.length) t.plan(0, `missing tools: ${TOOLS_MISSING.join(', ')} (Debian packages e2fsprogs, zerofree)`)
else {
  t.test('the read-back proof catches a faulty zeroer and a plan that frees guarded metadata', async t => {
    const dir = t.testdir()
    const img = join(dir, 'disk.img')
    buildExt(t, dir, img, 12 << 20, ['-t', 'ext4'])
    const raw = join(dir, 'raw.vma')
    t.equal((await inProcess(runCli, ['pack', raw, '--disk', `${NAME}=${img}`, '--ctime', '1764000000', '-q'])).code, 0, 'pack')
    const rawBytes = readFileSync(raw)

    // Where the real plan puts free space and guarded metadata on this disk.
    const disk = await openFileDisk(img, NAME)
    const plan = await realPlan.planTrim([disk], OPTS)
    await disk.close()
    t.equal(plan.report.disks[0]!.volumes[0]!.decision, 'trim', 'the image is trimmed by the real planner')
    const data = readFileSync(img)
    const mark = new Uint8Array(data.length) // 1 free, 2 guarded
    for (const [o, l] of plan.freeRanges(NAME)) mark.fill(1, o, o + l)
    const guarded = plan.guarded.ranges(NAME)
    for (const g of guarded) mark.fill(2, g.offset, g.offset + g.length)
    let used = -1
    for (let i = 65536; i < data.length && used < 0; i++) if (mark[i] === 0 && data[i] !== 0) used = i
    let meta = -1
    for (let i = 0; i < data.length && meta < 0; i++) if (mark[i] === 2 && data[i] !== 0) meta = i
    t.ok(used > 0 && meta >= 0, `a used byte outside the guarded ranges (${used}) and a guarded metadata byte (${meta}) to attack`)

    const files = () =>
      readdirSync(dir)
        .filter(f => f.endsWith('.vma') || f.startsWith('.'))
        .sort()
    const before = files()

    await t.test('control: the real planner passes its own proof', async t => {
      const r = await inProcess(runCli, ['optimize', '--trim', '-q', raw, join(dir, 'control.out')])
      t.equal(r.code, 0, r.stderr)
      const p = await inProcess(runCli, ['pack', join(dir, 'control.pack'), '--disk', `${NAME}=${img}`, '--ctime', '1764000000', '--trim', '-q'])
      t.equal(p.code, 0, p.stderr)
    })

    await t.test('(a) a zeroer clearing one used byte more: digest mismatch, nothing written', async t => {
      const run = await cliWith(t, p => ({ ...p, zeroer: n => plusByte(p.zeroer(n), n, used) }))
      const out = join(dir, 'a.vma')
      const r = await inProcess(run, ['optimize', '--trim', raw, out])
      t.not(r.code, 0, 'optimize --trim fails')
      t.equal(r.code, 4, "vma-opt's own fault, not the archive's: exit 4")
      t.match(r.stderr, /content digest .* differs/, r.stderr)
      t.notOk(existsSync(out), 'no output file')
      t.same(files(), before, 'no temp file left')
      // In place: the source must stay as it was.
      const ip = join(dir, 'inplace.vma')
      copyFileSync(raw, ip)
      const r2 = await inProcess(run, ['optimize', '--trim', ip])
      t.not(r2.code, 0, 'in place fails too')
      t.ok(readFileSync(ip).equals(rawBytes), 'in-place source untouched')
      // pack --trim goes through the same proof.
      const packed = join(dir, 'p.vma')
      const r3 = await inProcess(run, ['pack', packed, '--disk', `${NAME}=${img}`, '--ctime', '1764000000', '--trim'])
      t.not(r3.code, 0, 'pack --trim fails')
      t.match(r3.stderr, /content digest .* differs/, r3.stderr)
      t.notOk(existsSync(packed), 'pack wrote nothing')
    })

    await t.test('(b) free ranges and zeroer agree on a guarded metadata byte: the guard fails', async t => {
      const run = await cliWith(t, p => ({
        ...p,
        zeroer: n => plusByte(p.zeroer(n), n, meta),
        freeRanges: n => (n === NAME ? mergeRanges([...p.freeRanges(n), [meta, 1] as Range]) : p.freeRanges(n)),
      }))
      const out = join(dir, 'b.vma')
      const r = await inProcess(run, ['optimize', '--trim', raw, out])
      t.not(r.code, 0, 'optimize --trim fails')
      t.equal(r.code, 4, "vma-opt's own fault, not the archive's: exit 4")
      t.notMatch(r.stderr, /content digest/, 'the content digests agree (the fault is consistent)')
      t.match(r.stderr, /metadata of drive-scsi0 that the trim decisions rested on differs/, r.stderr)
      t.notOk(existsSync(out), 'no output file')
      const packed = join(dir, 'pb.vma')
      const r3 = await inProcess(run, ['pack', packed, '--disk', `${NAME}=${img}`, '--ctime', '1764000000', '--trim'])
      t.match(r3.stderr, /metadata of drive-scsi0 that the trim decisions rested on differs/, r3.stderr)
      t.notOk(existsSync(packed), 'pack wrote nothing')
    })

    await t.test('(c) the writing pass reads other bytes than the first pass checked: the proof fails', async t => {
      // One used byte of the device reads differently in pass 2 (a changed source, a bad spool).
      class FlippingReader extends realReader.ArchiveClusterReader {
        override async read(...a: Parameters<realReader.ArchiveClusterReader['read']>): Promise<void> {
          await super.read(...a)
          const [, first, n, buf, masks, pos] = a
          const c = Math.floor(used / 65536)
          if (c < first || c >= first + n || masks[c - first] !== 0xffff) return
          buf[pos[c - first]! + (used % 65536)]! ^= 0x5a
        }
      }
      const { optimize } = await t.mockImport<typeof import('../src/optimize/optimize.js')>('../src/optimize/optimize.js', {
        '../src/archive/archive-cluster-reader.js': { ...realReader, ArchiveClusterReader: FlippingReader },
      })
      const plain = join(dir, 'c-plain.vma')
      await t.rejects(optimize(raw, { dest: plain, spool: true }), { code: 'VMA_DIGEST_MISMATCH' }, 'without --trim: caught')
      t.notOk(existsSync(plain), 'nothing written without --trim')
      const trimmed = join(dir, 'c-trim.vma')
      await t.rejects(optimize(raw, { dest: trimmed, trim: OPTS }), { code: 'VMA_DIGEST_MISMATCH', message: /read while writing differs/ }, 'with --trim: caught too')
      t.notOk(existsSync(trimmed), 'nothing written with --trim')
    })
  })
}
