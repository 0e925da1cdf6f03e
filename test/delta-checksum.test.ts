// Per-cluster checks in deltas (DLT2, spec/delta-format.md "Check sector"):
// the check sector after every extent header holds the xxh64 of each slot's
// stored bytes (recomputed here from the bytes, independently of vma-opt);
// one flipped bit in a delta's data is refused by apply, verify --data and
// compare (VMA_DELTA_DATA, naming the file), and `serve BASE DELTA` answers
// a real NBD client's read of that cluster with an error and a log line
// while the rest of the disk reads correctly. Old DLT1 deltas (no checks)
// still apply and serve, after a whole-chain proof at serve's start that
// refuses a damaged one before anything listens.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import xxhash from 'xxhash-wasm'
import { makeContent, makeVma, type DeviceSpec } from './fixtures/make-vma.js'
import { DLT1, DLT2, layOut, toDlt1 } from './fixtures/delta-layout.js'
import { BIN, cliEnv, cliInProcess, sha256 } from './helpers.js'
import { startServe } from './fixtures/serve-process.js'

const have = (p: string) => spawnSync('sh', ['-c', `command -v ${p}`]).status === 0
const noQemu = !have('qemu-img') && 'qemu-img not installed (Debian: qemu-utils)'
const K64 = 65536

const day1: DeviceSpec[] = [
  { name: 'drive-scsi0', size: 3 * 1024 * 1024 + 4096 },
  { name: 'drive-scsi1', size: 1 << 20 },
].map((d, i) => ({ ...d, data: makeContent(d.size, 70 + i) }))
const day2 = day1.map(d => ({ ...d, data: Buffer.from(d.data!) }))
day2[0]!.data.fill(5, 3 * K64, 6 * K64 + 100)
day2[0]!.data.fill(6, 20 * K64, 21 * K64)
day2[1]!.data.fill(0, 2 * K64, 3 * K64) // a cluster that became zero: listed with mask 0
day2[1]!.data.fill(8, 9 * K64 + 4096, 9 * K64 + 8192)

/** The CLI in this process; serve, which keeps running when it starts, in a process of its own. */
const run = (args: string[]) => cliInProcess(args)
const spawned = (args: string[]) => spawnSync(BIN, args, { env: cliEnv(), encoding: 'utf8', timeout: 120_000 })

const root = t.testdir()
const A = join(root, 'a.vma')
const B = join(root, 'b.vma')
const D = join(root, 'b.vma-delta')
writeFileSync(A, makeVma({ devices: day1, order: 'shuffled', seed: 2 }).buf)
writeFileSync(B, makeVma({ devices: day2, order: 'interleaved', seed: 3 }).buf)
t.equal((await run(['diff', A, B, D])).status, 0, 'diff')
const good = readFileSync(D)
const layout = layOut(good)
const held = layout.extents.flatMap(e => e.clusters)
/** The first held cluster with data: the one the tests damage. */
const victim = held.find(c => c.length > 0)!
const devName = (id: number) => day2[id - 1]!.name
/** Where in its disk the victim's first stored byte + 100 is. */
const victimDiskOffset = () => {
  let j = 0
  while (!(victim.mask & (1 << j))) j++
  return victim.cluster * K64 + j * 4096 + 100
}

function flipped(buf: Buffer, at: number): Buffer {
  const b = Buffer.from(buf)
  b[at] = b[at]! ^ 0x10
  return b
}

t.test("every extent is followed by its check sector: xxh64 of each slot's stored bytes", async t => {
  const xx = await xxhash()
  t.equal(layout.version, DLT2, 'version DLT2')
  t.ok(layout.extents.length >= 2, 'several extents')
  t.ok(
    held.some(c => c.mask === 0),
    'a cluster listed with mask 0 is among them',
  )
  for (const e of layout.extents) {
    for (const c of e.clusters) {
      t.equal(good.readBigUInt64LE(c.check), xx.h64Raw(good.subarray(c.data, c.data + c.length)), `extent ${e.offset} cluster ${c.cluster} of ${devName(c.dev)}`)
    }
    t.ok(
      good.subarray(e.checks + e.clusters.length * 8, e.checks + 512).every(x => x === 0),
      'unused slots and the tail are zero',
    )
  }
  t.equal(layout.extents.at(-1)!.offset + layout.extents.at(-1)!.size, good.length, 'the extents cover the file exactly')
})

t.test("a flipped bit in a delta's data: apply, verify --data and compare refuse it, naming the file", async t => {
  const dir = t.testdir()
  const bad = join(dir, 'flip.vma-delta')
  writeFileSync(bad, flipped(good, victim.data + 100))
  const before = readdirSync(dir).sort()
  const a = await run(['apply', A, bad, join(dir, 'out.vma')])
  t.equal(a.status, 1, 'apply: exit 1')
  t.match(a.stderr, new RegExp(`${bad}: data at offset ${victim.data}: cluster ${victim.cluster} of ${devName(victim.dev)}: the stored data does not match its check.*\\(VMA_DELTA_DATA\\)`))
  t.same(readdirSync(dir).sort(), before, 'apply left nothing behind')
  const v = await run(['verify', '--data', bad])
  t.equal(v.status, 1, 'verify --data: exit 1')
  t.match(v.stderr, /VMA_DELTA_DATA/)
  t.equal((await run(['verify', bad])).status, 0, 'plain verify reads headers only, as documented')
  const vb = await run(['verify', '--base', A, bad])
  t.equal(vb.status, 1, 'verify --base: exit 1')
  t.match(vb.stderr, /VMA_DELTA_DATA/)
  const c = await run(['compare', A, bad])
  t.equal(c.status, 1, 'compare: exit 1')
  t.match(c.stderr, /VMA_DELTA_DATA/)
  // The check sector's own damage is caught too: a used check no longer matches, an unused byte is not zero.
  writeFileSync(join(dir, 'check.vma-delta'), flipped(good, victim.check))
  t.match((await run(['apply', A, join(dir, 'check.vma-delta'), join(dir, 'out.vma')])).stderr, /VMA_DELTA_DATA/, 'a damaged check')
  const e0 = layout.extents[0]!
  writeFileSync(join(dir, 'tail.vma-delta'), flipped(good, e0.checks + 500))
  const tail = await run(['verify', join(dir, 'tail.vma-delta')])
  t.equal(tail.status, 1, 'a non-zero unused check byte: exit 1')
  t.match(tail.stderr, new RegExp(`check sector at offset ${e0.checks + 500}: .*VMA_EXTENT_RESERVED`))
})

const sockDir = mkdtempSync(join(tmpdir(), 'vma-dck-'))
t.teardown(() => rmSync(sockDir, { recursive: true, force: true }))
let socks = 0
const uri = (sock: string, name: string) => `nbd+unix:///${name}?socket=${sock}`

/** qemu-io's read of `len` bytes at `off`: the bytes, or undefined when the read failed. */
function qemuRead(u: string, off: number, len: number): Buffer | undefined {
  const r = spawnSync('qemu-io', ['-r', '-f', 'raw', '-c', `read -v ${off} ${len}`, u], { encoding: 'utf8' })
  if (/read failed|error/i.test(r.stdout + r.stderr) || r.status !== 0) return undefined
  const bytes: number[] = []
  for (const line of r.stdout.split('\n')) {
    const m = /^[0-9a-f]{8}:\s+((?:[0-9a-f]{2}\s)+)/.exec(line)
    if (m)
      bytes.push(
        ...m[1]!
          .trim()
          .split(/\s+/)
          .map(h => parseInt(h, 16)),
      )
  }
  return Buffer.from(bytes)
}

t.test('serve BASE DELTA: a damaged cluster is an NBD read error and a log line, never its bytes', { skip: noQemu }, async t => {
  const dir = t.testdir()
  const bad = join(dir, 'flip.vma-delta')
  writeFileSync(bad, flipped(good, victim.data + 100))
  const sock = join(sockDir, `${++socks}.sock`)
  const s = await startServe(t, [A, bad, '--socket', sock])
  const name = devName(victim.dev)
  const data = day2[victim.dev - 1]!.data
  const at = victimDiskOffset()
  t.equal(qemuRead(uri(sock, name), at - 100, 4096), undefined, 'the read of the damaged cluster fails')
  const logged = /failed with EIO: .*cluster \d+ of drive-\w+: the stored data does not match its check/
  // stderr is a pipe: the line may arrive just after qemu-io's answer.
  for (let i = 0; i < 100 && !logged.test(s.err()); i++) await new Promise(r => setTimeout(r, 50))
  t.match(s.err(), logged, 'and the server says why')
  // The rest of the disk is served: another held cluster, and a cluster from the base.
  const other = held.find(c => c.dev === victim.dev && c.cluster !== victim.cluster && c.length > 0)!
  t.same(qemuRead(uri(sock, name), other.cluster * K64, 4096), data.subarray(other.cluster * K64, other.cluster * K64 + 4096), 'another held cluster reads correctly')
  const fromBase = [...Array(Math.ceil(data.length / K64)).keys()].find(c => !held.some(h => h.dev === victim.dev && h.cluster === c))!
  t.same(qemuRead(uri(sock, name), fromBase * K64, 4096), data.subarray(fromBase * K64, fromBase * K64 + 4096), 'a cluster of the base reads correctly')
  const whole = spawnSync('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri(sock, name), join(dir, 'disk.raw')], { encoding: 'utf8' })
  t.not(whole.status, 0, 'qemu-img convert of the disk fails: the flipped byte is never handed out')
  t.equal(await s.stop(), 143)
})

t.test('old DLT1 deltas still apply and serve; a damaged one is refused before serve listens', { skip: noQemu }, async t => {
  const dir = t.testdir()
  const old = join(dir, 'old.vma-delta')
  writeFileSync(old, toDlt1(good))
  t.equal(readFileSync(old).readUInt32BE(4), DLT1)
  t.equal((await run(['apply', A, D, join(dir, 'new.vma')])).status, 0, 'apply of the DLT2 delta')
  t.equal((await run(['apply', A, old, join(dir, 'old.vma')])).status, 0, 'apply of the DLT1 delta')
  t.ok(readFileSync(join(dir, 'old.vma')).equals(readFileSync(join(dir, 'new.vma'))), 'both give the same archive')
  const sock = join(sockDir, `${++socks}.sock`)
  const s = await startServe(t, [A, old, '--socket', sock])
  t.match(s.err(), /old\.vma-delta: old delta format without per-cluster checks; checking the whole chain once before serving/)
  for (const d of day2) {
    const out = join(dir, `${d.name}.raw`)
    t.equal(spawnSync('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri(sock, d.name), out]).status, 0, `qemu-img reads ${d.name}`)
    t.equal(sha256(readFileSync(out)), sha256(d.data), `${d.name} is day 2's disk`)
  }
  t.equal(await s.stop(), 143)
  // DLT1 had no checks: where the victim's data sits there (512 bytes earlier per extent before it).
  const oldLayout = layOut(readFileSync(old))
  const oldVictim = oldLayout.extents.flatMap(e => e.clusters).find(c => c.dev === victim.dev && c.cluster === victim.cluster)!
  writeFileSync(old, flipped(readFileSync(old), oldVictim.data + 100))
  const refused = spawned(['serve', A, old, '--socket', join(sockDir, `${++socks}.sock`)])
  t.equal(refused.status, 1, 'serve of a damaged DLT1 delta: exit 1')
  t.match(refused.stderr, /old\.vma-delta \(old format, without per-cluster checks\) or of the base is damaged.*\(VMA_DELTA_DATA\)/)
  t.notMatch(refused.stdout, /serving/, 'nothing listened')
  const a = await run(['apply', A, old, join(dir, 'bad.vma')])
  t.equal(a.status, 1, 'apply of a damaged DLT1 delta: exit 1')
  t.match(a.stderr, /VMA_DELTA_DATA/)
  // compare reads B's clusters itself: the digest of what it compares must be the delta's record.
  const c = await run(['compare', A, old])
  t.equal(c.status, 1, 'compare with a damaged DLT1 delta as B: exit 1')
  t.match(c.stderr, new RegExp(`${old}: the delta's data is damaged: applied to A, ${devName(victim.dev)} has digest [0-9a-f]{16}, the delta recorded [0-9a-f]{16} \\(VMA_DELTA_DATA\\)`))
  t.equal((await run(['compare', A, D])).status, 0, 'compare with the sound delta: exit 0')
})
