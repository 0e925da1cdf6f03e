// hook install --share-blocks, run as vzdump runs the hook (`env -i`, the
// phase arguments, vzdump's variables), for three nights of one VM whose
// backups Proxmox's own `vma create` writes into a dump directory on a
// loop-mounted XFS (reflink) and btrfs: each night's archive is optimized
// into the aligned form and shares with the night before; `vma-opt du` then
// shows the unchanged data shared; Proxmox's vma verifies and extracts every
// archive to the exact sums of the disk images; vzdump's prune deletes the
// oldest and the others still extract exactly from the disk. On ext4 and on
// XFS without reflink the hook says in one line why nothing is shared and
// the backups are intact; the backup job never fails for it.

import t from 'tap'
import type { Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, ROOT, cliEnv, cliInProcess } from './helpers.js'
import { assertProxmoxReads, createWithProxmox, proxmoxVma, type Expected } from './proxmox-vma.js'
import { loopFs, usedBytes, whyNoLoopFs, type FsKind } from './share-helpers.js'

const vma = proxmoxVma()
const noVma = vma.ok ? false : `Proxmox's vma cannot be used: ${vma.reason}`
const vmaPath = vma.ok ? vma.path : ''

const SCSI0 = 32 << 20
const EFI = 540672
/** Bytes rewritten each night: four 256 KiB regions of scsi0. */
const CHANGED = 4 * (256 << 10)
const nights = ['2026_11_20-01_00_00', '2026_11_21-01_00_00', '2026_11_22-01_00_00']
const archiveName = (night: number) => `vzdump-qemu-100-${nights[night]}.vma`

/** The built hook entry, as the package's wrapper runs it. */
const ENTRY = join(ROOT, 'dist', 'src', 'hook', 'hook-main.js')

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

interface Usage {
  file: string
  size: number
  shared: number
  exclusive: number
}

function install(t: Test, dir: string, extra: string[]): string {
  const hook = join(dir, 'vzdump-vma-opt')
  const r = spawnSync(BIN, ['hook', 'install', '--path', hook, ...extra], { env: cliEnv(), encoding: 'utf8' })
  t.equal(r.status, 0, `hook install ${r.stderr}`)
  return hook
}

/** Runs the hook the way vzdump does. */
function vzdump(hook: string, phase: string[], vars: Record<string, string>) {
  const env = Object.entries({ LC_ALL: 'C', ...vars }).map(([k, v]) => `${k}=${v}`)
  const r = spawnSync('/usr/bin/env', ['-i', ...env, hook, ...phase], { encoding: 'utf8' })
  return { status: r.status, log: r.stdout + r.stderr }
}

/**
 * One VM's disks, night after night: night 0 random data, each later night
 * four 256 KiB regions (4 KiB-aligned, at places that differ per night)
 * rewritten with new random bytes.
 */
class Vm {
  readonly scsi0 = randomBytes(SCSI0)
  readonly efi = randomBytes(EFI)
  constructor(readonly src: string) {
    mkdirSync(src, { recursive: true })
  }

  night(n: number): void {
    for (let k = 0; n > 0 && k < 4; k++) randomBytes(256 << 10).copy(this.scsi0, (n * 37 + k * 113) * (64 << 10))
    writeFileSync(join(this.src, 'disk-drive-scsi0.raw'), this.scsi0)
    writeFileSync(join(this.src, 'disk-drive-efidisk0.raw'), this.efi)
    writeFileSync(join(this.src, 'qemu-server.conf'), `name: web1\n# night ${n}\n`)
  }

  expected(): Expected {
    return {
      devices: { 'drive-scsi0': sha(this.scsi0), 'drive-efidisk0': sha(this.efi) },
      configs: { 'qemu-server.conf': sha(readFileSync(join(this.src, 'qemu-server.conf'))) },
    }
  }

  /** The night's backup as vzdump leaves it in the dump directory: written by Proxmox's vma, its task log beside it. */
  backup(t: Test, dump: string, n: number): { target: string; vars: Record<string, string> } {
    this.night(n)
    const target = join(dump, archiveName(n))
    const c = createWithProxmox(
      vmaPath,
      target,
      [join(this.src, 'qemu-server.conf')],
      [
        { name: 'drive-efidisk0', path: join(this.src, 'disk-drive-efidisk0.raw') },
        { name: 'drive-scsi0', path: join(this.src, 'disk-drive-scsi0.raw') },
      ],
    )
    t.equal(c.status, 0, `vma create night ${n}: ${c.stderr}`)
    const log = target.replace(/\.vma$/, '.log')
    writeFileSync(log, 'INFO: starting new backup job\n')
    return { target, vars: { STOREID: 'local', DUMPDIR: dump, VMTYPE: 'qemu', HOSTNAME: 'web1', TARGET: target, LOGFILE: log } }
  }
}

/** vzdump's whole sequence for one night's backup of VM 100. */
function runNight(t: Test, hook: string, vm: Vm, dump: string, n: number): { target: string; log: string } {
  const { target, vars } = vm.backup(t, dump, n)
  let log = ''
  for (const phase of [['job-start'], ['backup-start', 'snapshot', '100'], ['pre-stop', 'snapshot', '100'], ['backup-end', 'snapshot', '100'], ['log-end', 'snapshot', '100'], ['job-end']]) {
    const r = vzdump(hook, phase, vars)
    t.equal(r.status, 0, `night ${n} ${phase[0]} exits 0: ${r.log}`)
    log += r.log
  }
  return { target, log }
}

async function du(...args: string[]): Promise<Usage[]> {
  const r = await cliInProcess(['du', '--json', ...args])
  if (r.status !== 0) throw new Error(`du: ${r.stderr}`)
  return JSON.parse(r.stdout) as Usage[]
}

/** Drops the file's clean pages from the page cache, so that what follows reads the disk. */
const dropCache = (file: string) => spawnSync('xfs_io', ['-r', '-c', `fadvise -d 0 ${statSync(file).size}`, file])

for (const kind of ['xfs', 'btrfs'] as const) {
  t.test(`${kind}: three nights of vzdump with hook --share-blocks cost what changed; prune keeps the rest whole`, { skip: whyNoLoopFs(kind) || noVma }, async t => {
    const dir = t.testdir()
    const mnt = loopFs(t, kind, 400)
    const dump = join(mnt, 'dump')
    mkdirSync(dump)
    const hook = install(t, dir, ['--share-blocks', '--trim'])
    const vm = new Vm(join(dir, 'src'))
    const want: Expected[] = []
    const targets: string[] = []
    for (let n = 0; n < 3; n++) {
      const before = await usedBytes(mnt)
      const { target, log } = runNight(t, hook, vm, dump, n)
      want.push(vm.expected())
      targets.push(target)
      t.match(log, /optimized in .* proven unchanged/, `night ${n}: optimized and proven`)
      if (n === 0) t.match(log, /first backup of the guest here, written aligned/, 'night 0 has nothing to share with')
      else {
        t.match(log, new RegExp(`${archiveName(n)} shares [\\d.]+ MiB with ${archiveName(n - 1)}`), `night ${n} shares with night ${n - 1}`)
        const cost = (await usedBytes(mnt)) - before
        // The archive (~33 MiB) costs on disk what changed; vzdump's task log and our spool metadata are a few KiB.
        t.ok(cost <= 1.25 * CHANGED + (256 << 10), `df: night ${n} costs ${cost} bytes for ${CHANGED} changed`)
      }
      t.notMatch(log, /WARNING|ERROR/, 'no warning')
    }
    const usage = await du(dump)
    t.same(
      usage.map(u => u.file),
      targets,
      'du lists the three archives',
    )
    for (const [n, u] of usage.entries()) {
      // Night 0 shares what night 1 kept; nights 1 and 2 share all but what changed that night.
      t.ok(u.shared >= u.size - 1.25 * CHANGED - (64 << 10), `du: night ${n} shares ${u.shared} of ${u.size} bytes (all but what changed)`)
    }
    const text = await cliInProcess(['du', dump])
    t.match(text.stdout, /total: 3 archives, .* on disk \(shared blocks counted once: .*\)/)
    for (const [n, target] of targets.entries()) await assertProxmoxReads(t, vmaPath, target, want[n]!, `${kind} night ${n}`, { workDir: dir })

    // vzdump's prune (keep-last 2): the oldest backup and its log go; the others still restore exactly, read from the disk.
    const freedWant = usage[0]!.exclusive
    const beforePrune = await usedBytes(mnt)
    rmSync(targets[0]!)
    rmSync(targets[0]!.replace(/\.vma$/, '.log'))
    const freed = beforePrune - (await usedBytes(mnt))
    t.ok(Math.abs(freed - freedWant) <= 256 << 10, `deleting night 0 freed ${freed} bytes; du said ${freedWant}`)
    for (const n of [1, 2]) {
      dropCache(targets[n]!)
      await assertProxmoxReads(t, vmaPath, targets[n]!, want[n]!, `${kind} night ${n} after night 0 is pruned`, { workDir: dir })
    }
    t.same(
      readdirSync(dump).filter(f => f.startsWith('.')),
      [],
      'no hidden temp or probe file is left in the dump directory',
    )
  })
}

for (const kind of ['ext4', 'xfs-noreflink'] as const satisfies readonly FsKind[]) {
  t.test(`${kind}: the hook says in one line why nothing is shared; backups intact, the job does not fail`, { skip: whyNoLoopFs(kind) || noVma }, async t => {
    const dir = t.testdir()
    const mnt = loopFs(t, kind, 300)
    const dump = join(mnt, 'dump')
    mkdirSync(dump)
    const hook = install(t, dir, ['--share-blocks'])
    const vm = new Vm(join(dir, 'src'))
    const why = kind === 'ext4' ? /ext2\/3\/4 cannot share blocks between files/ : /the filesystem refused to share a block \(.*\)/
    for (let n = 0; n < 2; n++) {
      const { target, log } = runNight(t, hook, vm, dump, n)
      const notes = log.split('\n').filter(l => /no block sharing/.test(l))
      t.equal(notes.length, 1, `night ${n}: one line says why`)
      t.match(notes[0], new RegExp(`^vma-opt: no block sharing for ${archiveName(n)}: ${why.source}; backup optimized as without --share-blocks$`))
      t.match(log, /optimized in .* proven unchanged/, 'optimized as without --share-blocks')
      await assertProxmoxReads(t, vmaPath, target, vm.expected(), `${kind} night ${n}`, { workDir: dir })
    }
    t.same(
      readdirSync(dump).filter(f => f.startsWith('.')),
      [],
      'no probe file is left in the dump directory',
    )
  })
}

t.test('--share-blocks with --reverse-deltas: refused at install; in a hand-edited options file the reverse deltas are kept', { skip: whyNoLoopFs('xfs') || noVma }, async t => {
  const dir = t.testdir()
  const r = spawnSync(BIN, ['hook', 'install', '--path', join(dir, 'h'), '--share-blocks', '--reverse-deltas'], { env: cliEnv(), encoding: 'utf8' })
  t.equal(r.status, 2, 'a usage error')
  t.match(r.stderr, /--share-blocks and --reverse-deltas are alternatives for the same older backups .*: choose one/)
  t.same(readdirSync(dir), [], 'nothing written')
  // The options file of the package's wrapper, edited by hand with both.
  const mnt = loopFs(t, 'xfs', 300)
  const dump = join(mnt, 'dump')
  mkdirSync(dump)
  const opts = join(dir, 'hook.conf')
  writeFileSync(opts, '--share-blocks\n--reverse-deltas\n')
  const vm = new Vm(join(dir, 'src'))
  const logs: string[] = []
  for (let n = 0; n < 2; n++) {
    const { vars } = vm.backup(t, dump, n)
    // As the package's wrapper runs the hook: node, the entry, --options-file, the phase.
    const end = vzdump(process.execPath, [ENTRY, '--options-file', opts, 'backup-end', 'snapshot', '100'], vars)
    t.equal(end.status, 0, end.log)
    logs.push(end.log)
  }
  t.match(logs[1], /WARNING: --share-blocks and --reverse-deltas are alternatives.*keeping the reverse deltas, no block sharing/)
  t.notMatch(logs.join(''), /shares .* with/, 'nothing shared')
  t.ok(
    readdirSync(dump).some(f => f.endsWith('.vma-delta')),
    'night 0 became a reverse delta',
  )
})

t.test('--share-blocks on a dump directory with less free space than one archive: the night that shares fits and is not refused', { skip: whyNoLoopFs('xfs') || noVma }, async t => {
  const dir = t.testdir()
  const mnt = loopFs(t, 'xfs', 300)
  const dump = join(mnt, 'dump')
  mkdirSync(dump)
  const hook = install(t, dir, ['--share-blocks'])
  const vm = new Vm(join(dir, 'src'))
  runNight(t, hook, vm, dump, 0)
  const { target, vars } = vm.backup(t, dump, 1)
  // What vzdump left behind fills the storage but for a third of one archive: sharing needs about what changed (1 MiB).
  const s = statfsSync(mnt)
  const keep = Math.floor(statSync(target).size / 3)
  const fill = spawnSync('xfs_io', ['-f', '-c', `falloc 0 ${s.bfree * s.bsize - keep}`, join(mnt, 'filler')], { encoding: 'utf8' })
  t.equal(fill.status, 0, `xfs_io falloc: ${fill.stderr}`)
  const end = vzdump(hook, ['backup-end', 'snapshot', '100'], vars)
  t.equal(end.status, 0, end.log)
  t.notMatch(end.log, /VMA_NO_SPACE|WARNING/, 'not refused for space sharing does not need')
  t.match(end.log, new RegExp(`${archiveName(1)} shares [\\d.]+ MiB with ${archiveName(0)}`), 'night 1 shares with night 0')
  await assertProxmoxReads(t, vmaPath, target, vm.expected(), 'night 1', { workDir: dir })
})

t.test('xfs: the previous backup pruned between being chosen and being read: that night shares nothing, is optimized, and the job goes on', { skip: whyNoLoopFs('xfs') || noVma }, async t => {
  const dir = t.testdir()
  const mnt = loopFs(t, 'xfs', 300)
  const dump = join(mnt, 'dump')
  mkdirSync(dump)
  const vm = new Vm(join(dir, 'src'))
  const first = vm.backup(t, dump, 0).target
  const { target, vars } = vm.backup(t, dump, 1)
  // vzdump's prune of another job deletes night 0 right after the hook chose it.
  const real = await import('../src/hook/share-previous.js')
  const { runHook } = await t.mockImport<typeof import('../src/hook/vzdump-hook.js')>('../src/hook/vzdump-hook.js', {
    '../src/hook/share-previous.js': {
      ...real,
      sharePlanFor: async (tg: string) => {
        const plan = await real.sharePlanFor(tg)
        t.same(plan, { shareWith: [first] }, 'night 0 chosen')
        rmSync(first)
        return plan
      },
    },
  })
  const lines: string[] = []
  const code = await runHook(['--share-blocks', 'backup-end', 'snapshot', '100'], vars, { log: l => lines.push(l) })
  const log = lines.join('\n')
  t.equal(code, 0, 'the backup job does not fail')
  t.match(log, `vma-opt: no block sharing for ${archiveName(1)}: ${archiveName(0)} was deleted (a prune) before it could be read: nothing shared`)
  t.match(log, /optimized in .* proven unchanged/, 'optimized without it')
  t.notMatch(log, /WARNING|first backup|could not optimize/)
  await assertProxmoxReads(t, vmaPath, target, vm.expected(), 'night 1', { workDir: dir })
  t.same(
    readdirSync(dump).filter(f => f.startsWith('.')),
    [],
    'no temp or claim file left in the dump directory',
  )
})
