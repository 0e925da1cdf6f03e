// The up-front free-space check (src/output/space-check.ts, spec/cli.md
// "Free space"), on small tmpfs mounts and archives Proxmox's vma wrote:
// optimize, pack, apply and unpack refuse at once, exit 3, with one line
// naming the destination, the bytes needed and the bytes free, and leave
// nothing behind; where the output fits they run; --no-space-check runs into
// ENOSPC and cleans up as before; stdin (size unknown) is not checked; an
// in-place optimize needs room for the copy beside the source, but a file
// that may be left alone (optimized already) is not refused.

import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { copyFileSync, createReadStream, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, statfsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SHARED, cliInProcess, haveShared } from './helpers.js'
import { needTools, skipHere } from './tools.js'
import { optimize } from '../src/optimize/optimize.js'

const skip = !haveShared ? `the archives written by Proxmox's vma are not here (${SHARED})` : process.getuid?.() !== 0 ? 'mounting a tmpfs needs root' : needTools('mount', 'umount', 'zstd')
const SRC = join(SHARED, 'two-disks.vma') // 1,820,160 bytes

/** A tmpfs of `mib` MiB, unmounted and removed however the test ends. */
function smallFs(t: Test, mib: number): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'vma-opt-space-'))
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m`, 'tmpfs', dir], { encoding: 'utf8' })
  t.teardown(() => {
    if (m.status === 0) spawnSync('umount', [dir])
    rmSync(dir, { recursive: true, force: true })
  })
  if (m.status !== 0) {
    skipHere(t, `cannot mount a tmpfs here: ${m.stderr}`)
    return undefined
  }
  return dir
}

const free = (dir: string) => {
  const s = statfsSync(dir)
  return s.bfree * s.bsize
}
const thousands = (n: number) => n.toLocaleString('en-US')

/** The one line of a refusal: the destination, the bytes needed, the bytes free of the directory asked. */
const refusal = (dest: string, needed: number, dir: string) =>
  new RegExp(
    `^vma-opt: ${dest}: needs ${thousands(needed)} bytes \\([^)]+\\), [^;\\n]+; ${dir} has ${thousands(free(dir))} bytes \\([^)]+\\) free; nothing was written \\(--no-space-check tries anyway\\) \\(VMA_NO_SPACE\\)\\n$`,
  )

t.test('optimize: refused up front when the output cannot fit; runs where it fits; --no-space-check runs into ENOSPC', { skip }, async t => {
  const small = smallFs(t, 1)
  if (!small) return
  const dest = join(small, 'out.vma')
  const r = await cliInProcess(['optimize', '-q', SRC, dest])
  t.equal(r.status, 3, 'exit 3')
  t.match(r.stderr, refusal(dest, statSync(SRC).size, small), 'one line: destination, bytes needed (the input), bytes free')
  t.same(readdirSync(small), [], 'nothing written: no temp file, no lock claim')

  const n = await cliInProcess(['optimize', '-q', '--no-space-check', SRC, dest])
  t.equal(n.status, 3, '--no-space-check: exit 3 all the same')
  t.match(n.stderr, /^vma-opt: \S+: cannot write \S+\/out\.vma: no space left on device \(VMA_NO_SPACE\)\n$/, 'from ENOSPC itself, naming the destination')
  t.same(readdirSync(small), [], 'and the temp file is cleaned up as before')

  // stdin: the size is not known up front, nothing is said until ENOSPC.
  const p = await optimize('-', { dest, stdin: createReadStream(SRC) }).catch((e: Error) => e)
  // (its spool goes beside the destination: that is what fills up first)
  t.match(p, { code: 'VMA_NO_SPACE', message: /^cannot write .*: no space left on device$/ }, 'stdin: no up-front check, ENOSPC as before')
  t.same(readdirSync(small), [])

  const roomy = smallFs(t, 4)
  if (!roomy) return
  const ok = await cliInProcess(['optimize', '-q', `${SRC}.zst`, join(roomy, 'out.vma.zst')])
  t.same([ok.status, ok.stderr], [0, ''], 'where it fits, it runs')
  t.same(readdirSync(roomy), ['out.vma.zst'])
})

t.test('optimize in place needs room for the copy beside the source; a file optimized already is not refused', { skip }, async t => {
  const small = smallFs(t, 3)
  if (!small) return
  const src = join(small, 'a.vma')
  copyFileSync(SRC, src)
  const before = readFileSync(src)
  const r = await cliInProcess(['optimize', '-q', src])
  t.equal(r.status, 3)
  t.match(r.stderr, refusal(src, before.length, small), 'refused: the new copy does not fit beside it')
  t.match(r.stderr, /the input's size, for the new copy written beside it/)
  t.same(readdirSync(small), ['a.vma'], 'nothing else there')
  t.ok(readFileSync(src).equals(before), 'source untouched')

  // The same file optimized (elsewhere): in place it is left alone, which needs no room.
  const work = mkdtempSync(join(tmpdir(), 'vma-opt-space-work-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  await optimize(SRC, { dest: join(work, 'opt.vma') })
  rmSync(src)
  copyFileSync(join(work, 'opt.vma'), src)
  t.ok(free(small) < statSync(src).size, 'no room for a second copy')
  const again = await optimize(src)
  t.same([again.alreadyOptimized, again.written], [true, false], 'left alone, not refused')
  t.same(readdirSync(small), ['a.vma'])
})

t.test('unpack: a plain archive refused up front, a compressed one (size unknown) left to ENOSPC; both leave nothing', { skip }, async t => {
  const small = smallFs(t, 1)
  if (!small) return
  const dir = join(small, 'restore')
  const r = await cliInProcess(['unpack', '-q', SRC, dir])
  t.equal(r.status, 3)
  t.match(r.stderr, refusal(dir, statSync(SRC).size, small), 'refused, naming DIR and the filesystem it would be made on')
  t.same(readdirSync(small), [], 'DIR not even made')
  const z = await cliInProcess(['unpack', '-q', `${SRC}.zst`, dir])
  t.equal(z.status, 3)
  t.match(z.stderr, /no space left on device \(VMA_NO_SPACE\)\n$/, 'a .zst: its plain size is not known up front, ENOSPC says it')
  t.same(readdirSync(small), [], 'and cleans up')
  const roomy = smallFs(t, 8)
  if (!roomy) return
  const ok = await cliInProcess(['unpack', '-q', SRC, join(roomy, 'restore')])
  t.same([ok.status, ok.stderr], [0, ''], 'where it fits, it runs')
})

t.test('pack and apply: refused up front from the bound of what they store; --no-space-check runs into ENOSPC', { skip }, async t => {
  const work = mkdtempSync(join(tmpdir(), 'vma-opt-space-work-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  const small = smallFs(t, 1)
  if (!small) return
  // pack: the images vma-opt unpack wrote (sparse: only their data blocks count).
  t.equal((await cliInProcess(['unpack', '-q', SRC, join(work, 'images')])).status, 0)
  const dest = join(small, 'packed.vma')
  const p = await cliInProcess(['pack', '-q', join(work, 'images'), dest])
  t.equal(p.status, 3)
  t.match(p.stderr, /^vma-opt: \S+\/packed\.vma: needs [0-9,]+ bytes \([^)]+\), at most, from the blocks the images have allocated; /, 'pack: refused from the blocks the images hold')
  t.match(p.stderr, /; nothing was written \(--no-space-check tries anyway\) \(VMA_NO_SPACE\)\n$/)
  t.same(readdirSync(small), [], 'nothing left')
  const pn = await cliInProcess(['pack', '-q', '--no-space-check', join(work, 'images'), dest])
  t.equal(pn.status, 3)
  t.match(pn.stderr, /no space left on device \(VMA_NO_SPACE\)\n$/, 'pack --no-space-check: ENOSPC')
  t.same(readdirSync(small), [], 'cleaned up')

  // apply: a delta between two archives of the same disks, applied onto the small filesystem.
  const delta = join(work, 'd.vma-delta')
  const d = await cliInProcess(['diff', '-q', SRC, join(SHARED, 'two-disks-reordered.vma'), delta])
  t.equal(d.status, 0, d.stderr)
  const out = join(small, 'applied.vma')
  const a = await cliInProcess(['apply', '-q', SRC, delta, out])
  t.equal(a.status, 3)
  t.match(a.stderr, /^vma-opt: \S+\/applied\.vma: needs [0-9,]+ bytes \([^)]+\), at most, from the blocks the base and the deltas store; /, 'apply: refused from what the chain stores')
  t.same(readdirSync(small), [], 'nothing left')
  const an = await cliInProcess(['apply', '-q', '--no-space-check', SRC, delta, out])
  t.equal(an.status, 3)
  t.match(an.stderr, /no space left on device \(VMA_NO_SPACE\)\n$/, 'apply --no-space-check: ENOSPC')
  t.same(readdirSync(small), [], 'cleaned up')

  const roomy = smallFs(t, 4)
  if (!roomy) return
  mkdirSync(join(roomy, 'x'))
  const ok = await cliInProcess(['apply', '-q', SRC, delta, join(roomy, 'x', 'applied.vma')])
  t.same([ok.status, ok.stderr], [0, ''], 'apply: where it fits, it runs')
  const pk = await cliInProcess(['pack', '-q', join(work, 'images'), join(roomy, 'x', 'packed.vma')])
  t.same([pk.status, pk.stderr], [0, ''], 'pack: where it fits, it runs')
})
