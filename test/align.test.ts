// The aligned form (spec/optimized-form.md, "The aligned form"): every data
// block at a multiple of 4 KiB, padded by empty extents. Proven by walking
// the output's bytes here (not by vma-opt's parser), by Proxmox's vma
// (verify and extract to the exact sums), and by optimize itself: aligned
// output is deterministic, idempotent, and judged optimized in its form.

import t from 'tap'
import type { Test } from 'tap'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { optimize } from '../src/optimize/optimize.js'
import { inspectArchive } from '../src/check/inspect.js'
import { writeSampleArchive } from '../src/sample/sample-archive.js'
import { makeContent, makeVma } from './fixtures/make-vma.js'
import { SHARED, expected, haveShared } from './helpers.js'
import { assertProxmoxReads, proxmoxVma, type Expected } from './proxmox-vma.js'
import { extractedSums } from './share-helpers.js'

const vma = proxmoxVma()
const noVma = vma.ok ? false : `Proxmox's vma cannot be used: ${vma.reason}`
const noShared = haveShared ? false : `${SHARED} not found (the archives Proxmox's vma wrote)`
const vmaPath = vma.ok ? vma.path : ''

interface Walk {
  /** File offsets of the data blocks of every extent. */
  blocks: number[]
  /** Offsets of the extents with no entries. */
  empty: number[]
  extents: number
  /** Extents that store at least one block. */
  storing: number
}

/** Walks an archive's extents by the format description alone: header_size at byte 56, block_count at 6 of each extent header. */
function walk(file: Buffer): Walk {
  const w: Walk = { blocks: [], empty: [], extents: 0, storing: 0 }
  let pos = file.readUInt32BE(56)
  while (pos < file.length) {
    if (file.toString('latin1', pos, pos + 4) !== 'VMAE') throw new Error(`no extent magic at ${pos}`)
    const count = file.readUInt16BE(pos + 6)
    let listed = 0
    for (let i = 0; i < 59; i++) if (file.readBigUInt64BE(pos + 40 + i * 8) !== 0n) listed++
    if (listed === 0) w.empty.push(pos)
    if (count > 0) w.storing++
    for (let b = 0; b < count; b++) w.blocks.push(pos + 512 + b * 4096)
    pos += 512 + count * 4096
    w.extents++
  }
  return w
}

function assertAligned(t: Test, file: string, label: string): Walk {
  const w = walk(readFileSync(file))
  const off = w.blocks.filter(b => b % 4096 !== 0)
  t.same(off.slice(0, 5), [], `${label}: every one of ${w.blocks.length} data blocks starts at a multiple of 4096`)
  return w
}

const extracted = (file: string, dir: string): Expected => extractedSums(vmaPath, file, dir)

function fixtureExpected(name: string): Expected {
  const e = expected()[name]!
  return {
    devices: Object.fromEntries(Object.entries(e.devices).map(([n, d]) => [n, d.sha256])),
    configs: Object.fromEntries(Object.entries(e.configs).map(([n, c]) => [n, c.sha256])),
  }
}

t.test("Proxmox's fixtures, aligned: vma restores them exactly, blocks at 4 KiB", { skip: noVma || noShared }, async t => {
  const dir = t.testdir()
  for (const name of ['two-disks.vma', 'odd-size.vma', 'no-disks.vma']) {
    const out = join(dir, name)
    const r = await optimize(join(SHARED, name), { dest: out, align: true })
    t.ok(r.written && r.checked, `${name}: written and proven`)
    const w = assertAligned(t, out, name)
    if (name !== 'no-disks.vma') t.ok(w.empty.length > 0, `${name}: padded with empty extents`)
    await assertProxmoxReads(t, vmaPath, out, fixtureExpected(name), `${name} aligned`)
  }
})

t.test('a generated VM: several disks, odd sizes, holes; vmstate too', { skip: noVma }, async t => {
  const dir = t.testdir()
  const src = join(dir, 'vzdump-qemu-100.vma')
  await writeSampleArchive(src, {
    devices: [
      { name: 'drive-efidisk0', size: 540672 },
      { name: 'drive-scsi0', size: 300 * 65536 + 12345 },
      { name: 'drive-scsi1', size: 150 * 65536 },
    ],
    seed: 3,
    fill: 0.5,
  })
  const want = extracted(src, dir)
  const out = join(dir, 'aligned.vma')
  await optimize(src, { dest: out, align: true })
  const w = assertAligned(t, out, 'sample')
  t.ok(w.blocks.length > 1000, `it stores data (${w.blocks.length} blocks)`)
  await assertProxmoxReads(t, vmaPath, out, want, 'sample aligned')
  const packed = join(dir, 'packed.vma')
  await optimize(src, { dest: packed })
  const extra = statSync(out).size - statSync(packed).size
  t.equal(extra, w.empty.length * 512, 'the aligned file is the packed one plus its padding')
  t.ok(extra <= w.storing * 3584, `padding costs ${((100 * extra) / statSync(packed).size).toFixed(3)}%: at most 3584 bytes per extent that stores blocks`)

  // A vmstate stream is carried as stored, and aligned as well.
  const disk = makeContent(3 * 65536 + 4096, 1)
  const state = makeContent(5 * 65536, 2)
  const vm = join(dir, 'vmstate.vma')
  writeFileSync(
    vm,
    makeVma({
      devices: [
        { name: 'drive-scsi0', size: disk.length, data: disk },
        { name: 'vmstate', size: state.length, data: state },
      ],
      order: 'interleaved',
    }).buf,
  )
  const vmOut = join(dir, 'vmstate-aligned.vma')
  await optimize(vm, { dest: vmOut, align: true })
  assertAligned(t, vmOut, 'vmstate')
  await assertProxmoxReads(t, vmaPath, vmOut, extracted(vm, dir), 'vmstate aligned')
})

t.test('deterministic and idempotent; optimized in its form', async t => {
  const dir = t.testdir()
  const a = join(dir, 'a.vma')
  const b = join(dir, 'b.vma')
  const devices = [
    { name: 'drive-scsi0', size: 200 * 65536 + 512 },
    { name: 'drive-scsi1', size: 70 * 65536 },
  ]
  // The same content in two cluster orders with two uuids, as two runs of vzdump write it.
  await writeSampleArchive(a, { devices, seed: 9, orderSeed: 1, ctime: 1_700_000_000 })
  await writeSampleArchive(b, { devices, seed: 9, orderSeed: 2, ctime: 1_700_000_000 })
  t.notOk(readFileSync(a).equals(readFileSync(b)), 'the inputs differ byte for byte')
  const ao = join(dir, 'a-aligned.vma')
  const bo = join(dir, 'b-aligned.vma')
  await optimize(a, { dest: ao, align: true })
  await optimize(b, { dest: bo, align: true })
  t.ok(readFileSync(ao).equals(readFileSync(bo)), 'same content, same aligned bytes')
  assertAligned(t, ao, 'a')

  const report = await inspectArchive(ao, { readData: true })
  t.ok(report.optimized && report.aligned, 'inspect: optimized, aligned')
  t.same(report.formReasons, [], 'with no reason against it')

  // Idempotent: to a new file the same bytes; in place left alone.
  const again = join(dir, 'again.vma')
  const r2 = await optimize(ao, { dest: again, align: true })
  t.ok(r2.alreadyOptimized, 'an aligned archive is recognised as optimized')
  t.ok(readFileSync(again).equals(readFileSync(ao)), 'optimize --align of it gives the same bytes')
  const before = readFileSync(ao)
  const r3 = await optimize(ao, { align: true })
  t.notOk(r3.written, 'in place it is left alone with --align')
  const r4 = await optimize(ao)
  t.notOk(r4.written, 'and without')
  t.ok(readFileSync(ao).equals(before), 'unchanged')

  // A packed optimized archive is rewritten by --align, and the result equals the aligned one.
  const packed = join(dir, 'packed.vma')
  await optimize(a, { dest: packed })
  const pr = await inspectArchive(packed, { readData: true })
  t.ok(pr.optimized, 'the packed form is the optimized form')
  t.notOk(pr.aligned, 'but not the aligned one')
  const r5 = await optimize(packed, { align: true })
  t.ok(r5.written, 'optimize --align rewrites a packed archive in place')
  t.ok(readFileSync(packed).equals(readFileSync(ao)), 'into the aligned bytes')
})

t.test('padding that is not the aligned form is not optimized', async t => {
  const dir = t.testdir()
  const src = join(dir, 'src.vma')
  await writeSampleArchive(src, { devices: [{ name: 'drive-scsi0', size: 150 * 65536 }], seed: 4 })
  const ao = join(dir, 'aligned.vma')
  await optimize(src, { dest: ao, align: true })
  const buf = readFileSync(ao)
  const w = walk(buf)
  t.ok(w.empty.length >= 2, 'there is padding to break')
  // One empty extent fewer: still a valid archive, but the next extent's blocks move off 4 KiB.
  const cut = w.empty[1]!
  const short = join(dir, 'short.vma')
  writeFileSync(short, Buffer.concat([buf.subarray(0, cut), buf.subarray(cut + 512)]))
  const r = await inspectArchive(short, { readData: true })
  t.same(r.problems, [], 'it is a valid archive')
  t.notOk(r.optimized, 'not in the optimized form')
  t.match(r.formReasons.join(';'), /padding/, `says why: ${r.formReasons.join('; ')}`)
  // optimize repairs it into the aligned form.
  const fixed = join(dir, 'fixed.vma')
  const o = await optimize(short, { dest: fixed, align: true })
  t.notOk(o.alreadyOptimized, 'optimize does not take it as optimized')
  t.ok(readFileSync(fixed).equals(buf), 'and writes the aligned form again')
  // An empty extent after the last one is not the form either.
  const tail = join(dir, 'tail.vma')
  writeFileSync(tail, Buffer.concat([buf, buf.subarray(w.empty[0]!, w.empty[0]! + 512)]))
  const rt = await inspectArchive(tail, { readData: true })
  t.notOk(rt.optimized, 'trailing empty extent: not optimized')
})
