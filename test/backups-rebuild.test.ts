// A dump directory kept with reverse deltas, as the hook leaves it: `backups`
// shows each VM's backups with what restoring them takes and flags a cut
// chain; `rebuild DELTA OUT` finds the chain itself and writes that day's full
// archive (to a file or stdout), which Proxmox's vma extracts to that day's
// exact sums; a cut chain is refused naming what is missing.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { reverseDeltaAfterBackup } from '../src/hook/reverse-deltas.js'
import { makeContent, makeVma } from './fixtures/make-vma.js'
import { BIN, cliEnv, cliInProcess } from './helpers.js'
import { proxmoxReads, proxmoxVma } from './proxmox-vma.js'

const days = ['2026_11_20-01_00_00', '2026_11_21-01_00_00', '2026_11_22-01_00_00', '2026_11_23-01_00_00']
const name = (day: number, ext = '.vma') => `vzdump-qemu-100-${days[day]}${ext}`
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

/** Day `day` of VM 100: a few clusters change every day. */
function dayData(day: number): Buffer {
  const data = makeContent(1048576, 100)
  for (let d = 1; d <= day; d++) data.fill(d, d * 131072, d * 131072 + 20000)
  return data
}

/** The dump directory, and one beside it for what the test writes (tap's testdir() is one directory a test). */
async function dumpDir(root: string): Promise<{ dir: string; outDir: string }> {
  const dir = join(root, 'dump')
  const outDir = join(root, 'out')
  mkdirSync(dir)
  mkdirSync(outDir)
  for (let day = 0; day < 4; day++) {
    const data = dayData(day)
    const path = join(dir, name(day))
    const config = `day ${day}\n`
    writeFileSync(
      path,
      makeVma({ devices: [{ name: 'drive-scsi0', size: data.length, data }], configs: [{ name: 'qemu-server.conf', data: config }], ctime: 1795136400 + day * 86400, order: 'shuffled', seed: day })
        .buf,
    )
    await reverseDeltaAfterBackup(path)
  }
  // Another guest, full only, and a file that is no backup.
  writeFileSync(join(dir, 'vzdump-qemu-200-2026_11_23-02_00_00.vma'), makeVma({ devices: [{ name: 'drive-scsi0', size: 65536, data: makeContent(65536, 200) }] }).buf)
  writeFileSync(join(dir, 'notes.txt'), 'not a backup')
  return { dir, outDir }
}

interface Listed {
  vmid: number
  backups: { file: string; kind: string; status: string; needs: string[]; protected: string | null; date: string }[]
}

t.test('backups: per VM, newest first, what each restore takes; rebuild writes that day in full', async t => {
  const { dir, outDir } = await dumpDir(t.testdir())
  const b = await cliInProcess(['backups', '--json', dir])
  t.equal(b.status, 0, b.stderr)
  const guests = JSON.parse(b.stdout) as Listed[]
  t.same(
    guests.map(g => g.vmid),
    [100, 200],
  )
  const vm = guests[0]!.backups
  t.same(
    vm.map(x => [x.file, x.kind, x.status]),
    [
      [name(3), 'full', 'ok'],
      [name(2, '.vma-delta'), 'delta', 'ok'],
      [name(1, '.vma-delta'), 'delta', 'ok'],
      [name(0, '.vma-delta'), 'delta', 'ok'],
    ],
  )
  t.equal(vm[0]!.protected, 'vma-opt', "the chain end is kept from vzdump's prune")
  t.equal(vm[0]!.date, '2026-11-23T01:00:00')
  t.same(vm[3]!.needs, [name(3), name(2, '.vma-delta'), name(1, '.vma-delta'), name(0, '.vma-delta')], 'day 0 needs the full archive and every newer delta, in apply order')
  const text = await cliInProcess(['backups', dir])
  t.match(text.stdout, /VM 100\n {2}2026-11-23 01:00:00 {2}full .*kept for reverse deltas {2}vzdump-qemu-100-2026_11_23-01_00_00\.vma\n/)
  t.match(text.stdout, /restore: vma-opt rebuild vzdump-qemu-100-2026_11_20-01_00_00\.vma-delta OUT \(3 deltas on vzdump-qemu-100-2026_11_23-01_00_00\.vma\)/)

  // rebuild day 0 to a file, then to stdout: Proxmox's vma extracts day 0's disk and config.
  const out = join(outDir, 'day0.vma')
  const r = await cliInProcess(['rebuild', join(dir, name(0, '.vma-delta')), out])
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /\+ 3 deltas -> .*proven equal to what/)
  const piped = spawnSync(BIN, ['rebuild', join(dir, name(0, '.vma-delta')), '-', '-q'], { env: cliEnv(), maxBuffer: 64 << 20 })
  t.equal(piped.status, 0, String(piped.stderr))
  t.ok(piped.stdout.equals(readFileSync(out)), 'to stdout: the same bytes')
  const vma = proxmoxVma()
  if (!vma.ok) t.fail(`Proxmox's vma is needed to prove the rebuilt archive: ${vma.reason}`)
  else {
    const work = join(outDir, 'x')
    mkdirSync(work)
    const v = proxmoxReads(vma.path, out, work)
    t.same(v.problems, [], 'vma verify and extract accept it')
    t.same(v.extracted?.devices, { 'drive-scsi0': sha(dayData(0)) }, "vma extract gives day 0's disk")
    t.same(v.extracted?.configs, { 'qemu-server.conf': sha(Buffer.from('day 0\n')) }, "and day 0's config")
  }
  // Never over the chain's own files (the newest full backup would be lost), over another file only with --force.
  const newest = readFileSync(join(dir, name(3)))
  const over = await cliInProcess(['rebuild', '--force', join(dir, name(0, '.vma-delta')), join(dir, name(3))])
  t.equal(over.status, 2, `rebuild over its base: usage error ${over.stderr}`)
  t.match(over.stderr, /2026_11_23-01_00_00\.vma is one of the inputs: write the result to another name \(VMA_USAGE\)/)
  t.ok(readFileSync(join(dir, name(3))).equals(newest), 'the newest full backup is untouched')
  const again = await cliInProcess(['rebuild', join(dir, name(0, '.vma-delta')), out])
  t.equal(again.status, 3, 'an existing OUT without --force: exit 3')
  t.match(again.stderr, /day0\.vma exists; use --force to replace it \(VMA_EXISTS\)/)
  t.equal((await cliInProcess(['rebuild', '--force', join(dir, name(0, '.vma-delta')), out])).status, 0, 'with --force')
  const d = await cliInProcess(['diff', join(dir, name(3)), out, join(dir, name(1, '.vma-delta'))])
  t.equal(d.status, 3, 'diff onto an existing delta (older deltas apply through it): exit 3')
  const full = await cliInProcess(['rebuild', join(dir, name(3)), join(outDir, 'x.vma')])
  t.equal(full.status, 0)
  t.match(full.stdout, /is a full archive: restore it as it is/)
})

t.test('a chain cut by hand: backups flags it (exit 1), rebuild refuses naming what is missing', async t => {
  const { dir, outDir } = await dumpDir(t.testdir())
  unlinkSync(join(dir, name(2, '.vma-delta')))
  const b = await cliInProcess(['backups', dir])
  t.equal(b.status, 1, 'a broken chain: exit 1, as verify of a damaged archive')
  t.match(b.stdout, /vzdump-qemu-100-2026_11_21-01_00_00\.vma-delta {2}BROKEN: needs the backup made 2026-11-22 01:00:00 UTC/)
  t.match(b.stderr, /2 backups cannot be restored: vzdump-qemu-100-2026_11_21-01_00_00\.vma-delta, vzdump-qemu-100-2026_11_20-01_00_00\.vma-delta/)
  const out = join(outDir, 'day0.vma')
  const r = await cliInProcess(['rebuild', join(dir, name(0, '.vma-delta')), out])
  t.equal(r.status, 1)
  t.match(r.stderr, /vzdump-qemu-100-2026_11_20-01_00_00\.vma-delta cannot be restored: it needs the backup made 2026-11-22 01:00:00 UTC, which is not in .* \(VMA_DELTA_CHAIN\)\n$/)
  const bad = await cliInProcess(['rebuild', join(dir, 'notes.txt'), out])
  t.equal(bad.status, 2, 'not a backup name: usage error')
})
