// vma-opt share and vma-opt du on loop-mounted XFS and btrfs: share makes
// existing archives share their identical blocks without changing a byte of
// them; du says per archive what it shares and what it alone holds, and the
// latter is what deleting it frees (measured with df after sync).

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { optimize } from '../src/optimize/optimize.js'
import { compareArchives } from '../src/compare/compare.js'
import { writeSampleArchive } from '../src/sample/sample-archive.js'
import { cliInProcess } from './helpers.js'
import { loopFs, usedBytes, whyNoLoopFs } from './share-helpers.js'

interface Usage {
  file: string
  size: number
  shared: number
  exclusive: number
}

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex')

async function du(...args: string[]): Promise<Usage[]> {
  const r = await cliInProcess(['du', '--json', ...args])
  if (r.status !== 0) throw new Error(`du: ${r.stderr}`)
  return JSON.parse(r.stdout) as Usage[]
}

for (const kind of ['xfs', 'btrfs'] as const) {
  t.test(`${kind}: share existing archives, du tells what each alone holds`, { skip: whyNoLoopFs(kind) }, async t => {
    const dir = t.testdir()
    const mnt = loopFs(t, kind, 300)
    const devices = [
      { name: 'drive-scsi0', size: 300 * 65536 },
      { name: 'drive-scsi1', size: 100 * 65536 + 4096 },
    ]
    const changed = (dev: number, c: number) => dev === 1 && ((c >= 40 && c < 44) || (c >= 200 && c < 203))
    const a = join(dir, 'a.vma')
    const b = join(dir, 'b.vma')
    await writeSampleArchive(a, { devices, seed: 11, orderSeed: 1, fill: 0.8 })
    await writeSampleArchive(b, { devices, seed: 11, orderSeed: 2, fill: 0.8, changed })
    const truly = (await compareArchives(a, b)).total.added4k
    // Three archives written on their own (nothing shared yet): two days, and a copy of day 1 (a clone of its VM).
    const day1 = join(mnt, 'vzdump-qemu-100-2026_11_20-01_00_00.vma')
    const day2 = join(mnt, 'vzdump-qemu-100-2026_11_21-01_00_00.vma')
    const clone = join(mnt, 'vzdump-qemu-101-2026_11_21-02_00_00.vma')
    await optimize(a, { dest: day1, align: true })
    await optimize(b, { dest: day2, align: true })
    spawnSync('cp', ['--reflink=never', day1, clone])
    const sums = [day1, day2, clone].map(sha)

    const before = await du(mnt)
    t.same(
      before.map(u => u.file),
      [day1, day2, clone].map(f => join(mnt, f.slice(mnt.length + 1))),
      'du of the directory lists its archives by name',
    )
    for (const u of before) t.ok(u.shared === 0 && u.exclusive >= u.size, `${u.file}: nothing shared yet, ${u.exclusive} bytes its own`)
    const usedBefore = await usedBytes(mnt)

    const r = await cliInProcess(['share', day1, day2, clone])
    t.equal(r.status, 0, `share exits 0 ${r.stderr}`)
    t.match(r.stdout, /shared with the archives before it/, r.stdout)
    t.same([day1, day2, clone].map(sha), sums, 'share changed no byte of any archive')
    const usedAfter = await usedBytes(mnt)
    const size = before[0]!.size
    t.ok(usedBefore - usedAfter >= size + before[1]!.size - 1.25 * truly - (1 << 20), `df: sharing freed ${usedBefore - usedAfter} bytes (two archives of ${size}, less what changed)`)

    const after = await du(mnt)
    const [u1, u2, u3] = after
    t.ok(u2!.exclusive <= 1.25 * truly, `day 2 alone holds ${u2!.exclusive} bytes, <= 1.25 x ${truly} truly changed`)
    t.ok(u3!.exclusive <= 64 << 10, `the clone alone holds ${u3!.exclusive} bytes`)
    t.ok(u1!.shared >= size - (64 << 10), 'day 1 is shared almost whole')
    const text = await cliInProcess(['du', mnt])
    t.match(text.stdout, /^total: 3 archives, .* on disk/m, 'the text ends with the total')

    // What du says deleting day 2 frees is what df sees freed.
    const freed = u2!.exclusive
    const used = await usedBytes(mnt)
    rmSync(day2)
    const drop = used - (await usedBytes(mnt))
    // df also counts the file's own metadata (btrfs keeps two copies of it): a little more than its data.
    t.ok(drop >= freed && drop - freed <= 256 << 10, `deleting day 2 freed ${drop} bytes; du said ${freed}`)
    t.same([day1, clone].map(sha), [sums[0], sums[2]], 'the others are unchanged')
    const last = await du(day1, clone)
    t.equal(last.length, 2, 'du of files')
  })
}

t.test('share where nothing can be shared says why, exit 0', { skip: whyNoLoopFs('tmpfs') }, async t => {
  const mnt = loopFs(t, 'tmpfs', 50)
  const a = join(mnt, 'a.vma')
  const b = join(mnt, 'b.vma')
  await writeSampleArchive(a, { devices: [{ name: 'drive-scsi0', size: 20 * 65536 }], seed: 1 })
  await writeSampleArchive(b, { devices: [{ name: 'drive-scsi0', size: 20 * 65536 }], seed: 1 })
  const r = await cliInProcess(['share', a, b])
  t.equal(r.status, 0, 'exit 0')
  t.match(r.stdout, /^share: tmpfs cannot share blocks between files: nothing shared$/m, r.stdout)
  const u = await du(a)
  t.ok(u[0]!.shared === 0 && u[0]!.exclusive > 0, 'du on tmpfs: all its own')
})
