// The XFS log decides whether the on-disk free-space B+trees are current.
// Images copied from a mounted filesystem: unmounted (clean), frozen with
// fsfreeze (covered: only superblock updates to replay, what vzdump's guest
// agent freeze leaves) and live with an fsync'ed file (real transactions to
// replay: skipped under strict and union). Head and tail must be where
// xfs_logprint finds them.
import t from 'tap'
import { copyFileSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { planTrim, type TrimPlan } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/disk/file-disk.js'
import { applyZeroer, changedOutside, haveTool, mergeRanges, run } from './trim-helpers.js'
import { buildXfs, cannotMount, mountImage, populate, unmount, xfsDbFreeRanges, xfsFileShas, xfsToolsMissing } from './fixtures/xfs-image.js'
import { content } from './trim-built-check.js'
import { createHash } from 'node:crypto'

const MiB = 1 << 20
const missing = [...xfsToolsMissing(), ...['xfs_logprint', 'fsfreeze'].filter(x => !haveTool(x))]

async function plan(img: string, journal: 'strict' | 'union'): Promise<TrimPlan> {
  const d = await openFileDisk(img, 'd')
  const p = await planTrim([d], { journal, lvmFree: false })
  await d.close()
  return p
}

/** xfs_logprint's view: "log tail: T head: H state: <CLEAN|DIRTY>". */
function logprint(img: string): { tail: number; head: number; state: string } {
  const r = run('xfs_logprint', ['-t', img])
  const m = /log tail: (\d+) head: (\d+) state: <(\w+)>/.exec(r.out)
  if (!m) throw new Error(`xfs_logprint: ${r.out.slice(0, 300)}`)
  return { tail: Number(m[1]), head: Number(m[2]), state: m[3]! }
}

const headTail = (s: string): { head: number; tail: number } => {
  const m = /head \d+\/(\d+), tail \d+\/(\d+)/.exec(s)
  return { head: Number(m?.[1]), tail: Number(m?.[2]) }
}

if (missing.length) t.plan(0, `missing tools: ${missing.join(', ')} (Debian packages xfsprogs, util-linux)`)
else {
  const why = cannotMount(t.testdir())
  if (why) t.plan(0, why)
  else {
    t.test('unmounted: clean, head and tail where xfs_logprint finds them', async t => {
      const dir = t.testdir()
      const img = join(dir, 'fs.img')
      buildXfs(t, dir, img, 320 * MiB)
      const v = (await plan(img, 'strict')).report.disks[0]!.volumes[0]!
      t.equal(v.decision, 'trim')
      t.match(v.details.log, /^clean/)
      const lp = logprint(img)
      t.equal(lp.state, 'CLEAN', 'xfs_logprint: clean')
      t.same(headTail(String(v.details.log)), { head: lp.head, tail: lp.tail }, 'same head and tail as xfs_logprint')
    })

    t.test('frozen copy: covered log, trimmed; the files survive log recovery', async t => {
      const dir = t.testdir()
      const live = join(dir, 'live.img')
      buildXfs(t, dir, live, 320 * MiB)
      const m = mountImage(t, live, dir)
      const shas = populate(join(m), 32 * MiB)
      const frozen = join(dir, 'frozen.img')
      t.equal(run('fsfreeze', ['-f', m]).status, 0, 'fsfreeze -f')
      try {
        copyFileSync(live, frozen)
      } finally {
        run('fsfreeze', ['-u', m])
      }
      unmount(m)
      const lp = logprint(frozen)
      t.equal(lp.state, 'DIRTY', 'xfs_logprint: the frozen copy is not clean')
      const p = await plan(frozen, 'strict')
      const v = p.report.disks[0]!.volumes[0]!
      t.equal(v.decision, 'trim', `trimmed under strict (${v.reason ?? ''})`)
      t.match(v.details.log, /^covered/)
      t.same(headTail(String(v.details.log)), { head: lp.head, tail: lp.tail }, 'same head and tail as xfs_logprint')
      const ranges = [...p.freeRanges('d')]
      t.same(ranges, mergeRanges(xfsDbFreeRanges(frozen)), 'free ranges = xfs_db freesp -d minus the AGFL')
      const out = join(dir, 'trimmed.img')
      const res = await applyZeroer(p, 'd', frozen, out)
      t.ok(res.changed > 16 * MiB, `the trim changed ${res.changed} bytes`)
      t.equal(changedOutside(frozen, out, ranges), 0, 'no byte outside the free ranges changed')
      const m2 = mountImage(t, out, dir) // read-write: the kernel replays the covered log
      unmount(m2)
      t.same(xfsFileShas(t, out, dir, Object.keys(shas)), shas, 'every file unchanged after log recovery')
      const rep = run('xfs_repair', ['-n', '-f', out])
      t.equal(rep.status, 0, `xfs_repair -n clean ${rep.status ? rep.out.slice(-400) : ''}`)
    })

    t.test("live copy with an fsync'ed file: log needs recovery, skipped in both modes", async t => {
      const dir = t.testdir()
      const live = join(dir, 'live.img')
      buildXfs(t, dir, live, 320 * MiB)
      const m = mountImage(t, live, dir)
      const data = content('fsynced', 8 * MiB)
      const f = join(m, 'fsynced.bin')
      writeFileSync(f, data)
      const fd = openSync(f, 'r')
      fsyncSync(fd)
      closeSync(fd)
      const copy = join(dir, 'copy.img')
      copyFileSync(live, copy)
      unmount(m)
      const lp = logprint(copy)
      t.equal(lp.state, 'DIRTY', 'xfs_logprint: dirty')
      for (const mode of ['strict', 'union'] as const) {
        const p = await plan(copy, mode)
        const v = p.report.disks[0]!.volumes[0]!
        t.equal(v.decision, 'skip', `${mode}: skipped`)
        t.match(v.reason, /XFS log needs recovery/, `${mode}: ${v.reason}`)
        t.same(headTail(String(v.reason)), { head: lp.head, tail: lp.tail }, `${mode}: same head and tail as xfs_logprint`)
        t.equal([...p.freeRanges('d')].length, 0, `${mode}: nothing declared free`)
      }
      // why: after replay the fsync'ed file is there, its blocks taken from what the on-disk trees call free
      const before = xfsDbFreeRanges(copy)
      const replayed = join(dir, 'replayed.img')
      copyFileSync(copy, replayed)
      unmount(mountImage(t, replayed, dir))
      t.not(JSON.stringify(xfsDbFreeRanges(replayed)), JSON.stringify(before), 'log recovery changes the free space')
      const got = xfsFileShas(t, replayed, dir, ['/fsynced.bin'])['/fsynced.bin']
      t.equal(got, createHash('sha256').update(data).digest('hex'), "the fsync'ed file is intact after recovery")
    })
  }
}
