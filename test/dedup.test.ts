// The reason vma-opt exists, measured with the real clients: two backups of
// one VM a "day" apart (a real ext4 image with a few files changed in place,
// plus a data disk and an EFI vars disk), written the way Proxmox writes them
// (random uuids, devices interleaved, clusters out of order). Backed up raw,
// restic and borg store B almost whole; optimized, they store about what
// `vma-opt compare` says changed.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync, statSync, openSync, writeSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { compareArchives } from '../src/compare/compare.js'
import { optimize } from '../src/optimize/optimize.js'
import { makeVma, rng, type Entry } from './fixtures/make-vma.js'
import { borgAdded, rdiffDelta, resticAdded } from '../bench/dedup-clients.js'
import { haveTool } from './tools.js'

// mkfs.ext4 and debugfs live in /usr/sbin, which a plain user's PATH may lack.
process.env.PATH = `${process.env.PATH}:/usr/sbin:/sbin`
const tools = ['restic', 'borg', 'rdiff', 'mkfs.ext4', 'debugfs']
const missing = tools.filter(x => !haveTool(x))
if (missing.length && process.env.CI) throw new Error(`CI must install ${missing.join(', ')}`)

const MiB = 1 << 20

/** Files of a small Linux system: logs and configs (text), binaries (random), a database with holes. */
function makeTree(dir: string, seed: number): void {
  const r = rng(seed)
  mkdirSync(join(dir, 'var/log'), { recursive: true })
  mkdirSync(join(dir, 'usr/bin'), { recursive: true })
  mkdirSync(join(dir, 'srv/db'), { recursive: true })
  for (let i = 0; i < 12; i++) {
    let text = ''
    for (let n = 0; text.length < 100_000 + i * 40_000; n++)
      text += `Nov ${1 + (n % 28)} 0${n % 10}:${10 + (n % 50)}:00 host app[${1000 + n}]: request ${Math.floor(r() * 1e9)} served in ${Math.floor(r() * 900)} ms\n`
    writeFileSync(join(dir, 'var/log', `app${i}.log`), text)
  }
  for (let i = 0; i < 10; i++) {
    const b = Buffer.alloc(200_000 + i * 150_000)
    for (let k = 0; k < b.length; k++) b[k] = (r() * 256) | 0
    writeFileSync(join(dir, 'usr/bin', `tool${i}`), b)
  }
  const db = Buffer.alloc(6 * MiB)
  for (let k = 0; k < db.length; k += 4096) if (r() < 0.5) for (let m = 0; m < 512; m++) db[k + m] = (r() * 256) | 0
  writeFileSync(join(dir, 'srv/db', 'data.db'), db)
}

/** An ext4 image of `tree`, with a fixed time so it is reproducible. */
function mkfs(tree: string, image: string, size: string): void {
  const r = spawnSync('mkfs.ext4', ['-q', '-F', '-b', '4096', '-d', tree, image, size], { env: { ...process.env, E2FSPROGS_FAKE_TIME: '1700000000' } })
  if (r.status !== 0) throw new Error(`mkfs.ext4 failed: ${r.stderr}`)
}

/** Overwrites the data blocks of `file` inside the image: the file changed in place. */
function changeFile(image: string, file: string, seed: number, share = 1): number {
  const blocks = spawnSync('debugfs', ['-R', `blocks ${file}`, image])
    .stdout.toString()
    .trim()
    .split(/\s+/)
    .map(Number)
  const r = rng(seed)
  const fd = openSync(image, 'r+')
  const buf = Buffer.alloc(4096)
  let changed = 0
  for (const b of blocks.slice(0, Math.ceil(blocks.length * share))) {
    for (let k = 0; k < 4096; k++) buf[k] = (r() * 256) | 0
    writeSync(fd, buf, 0, 4096, b * 4096)
    changed += 4096
  }
  closeSync(fd)
  return changed
}

/** The order a live Proxmox backup writes: devices interleaved in bursts, some clusters early (copy-before-write). */
function proxmoxOrder(devs: { id: number; clusters: number }[], seed: number): Entry[] {
  const r = rng(seed)
  const next = devs.map(() => 0)
  const out: Entry[] = []
  while (next.some((n, i) => n < devs[i]!.clusters)) {
    devs.forEach((d, i) => {
      const burst = 1 + Math.floor(r() * 8)
      for (let k = 0; k < burst && next[i]! < d.clusters; k++) out.push({ dev: d.id, cluster: next[i]!++ })
    })
  }
  for (let k = 0; k < out.length * 0.05; k++) {
    const i = Math.floor(r() * out.length)
    const j = Math.max(0, i - 1 - Math.floor(r() * 400))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

t.test('restic, borg and rdiff store about what changed, once optimized', { skip: missing.length > 0 && `missing ${missing.join(', ')}` }, async t => {
  const root = t.testdir({ tree: {}, data: {} })
  makeTree(join(root, 'tree'), 1)
  const day1 = join(root, 'scsi0-day1.img')
  const day2 = join(root, 'scsi0-day2.img')
  mkfs(join(root, 'tree'), day1, '40M')
  writeFileSync(day2, readFileSync(day1))
  // A day later: a log grew a little (its last blocks rewritten), a tool was updated, the database changed in places.
  let changedFs = changeFile(day2, '/var/log/app11.log', 2, 0.05)
  changedFs += changeFile(day2, '/usr/bin/tool3', 3)
  changedFs += changeFile(day2, '/srv/db/data.db', 4, 0.03)
  // A data disk of the same size (interleaves for the whole backup), unchanged; and EFI vars.
  const data = Buffer.alloc(40 * MiB)
  const r = rng(9)
  for (let k = 0; k < data.length; k += 4096) if (r() < 0.6) for (let m = 0; m < 4096; m++) data[k + m] = (r() * 256) | 0
  const efi = Buffer.alloc(540672)
  efi.fill(0x55, 0, 70000)

  const build = (img: Buffer, seed: number) => {
    const devices = [
      { name: 'drive-efidisk0', size: efi.length, data: efi },
      { name: 'drive-scsi0', size: img.length, data: img },
      { name: 'drive-scsi1', size: data.length, data },
    ]
    const order = proxmoxOrder(
      devices.map((d, i) => ({ id: i + 1, clusters: Math.ceil(d.size / 65536) })),
      seed,
    )
    return makeVma({ devices, order, ctime: 1700000000 + seed }).buf // random uuid each time
  }
  const A = join(root, 'a.vma')
  const B = join(root, 'b.vma')
  writeFileSync(A, build(readFileSync(day1), 11))
  writeFileSync(B, build(readFileSync(day2), 12))
  const Aopt = join(root, 'a-opt.vma')
  const Bopt = join(root, 'b-opt.vma')
  await optimize(A, { dest: Aopt })
  await optimize(B, { dest: Bopt })

  const cmp = await compareArchives(Aopt, Bopt)
  const changed = cmp.total.added4k
  t.ok(changed >= changedFs * 0.9 && changed <= changedFs * 1.1 + 64 * 1024, `compare finds the changed bytes (${changed} vs ${changedFs} written)`)
  const rawCmp = await compareArchives(A, B)
  t.equal(rawCmp.total.added4k, changed, 'compare sees the same change in the raw archives (order does not matter)')
  const sizeB = statSync(B).size
  const runs = cmp.total.changedRuns

  // restic: content-defined chunks, average 1 MiB (512 KiB to 8 MiB). Each
  // changed place can dirty the chunk it falls in and shift the boundary of a
  // neighbour: at most about two average chunks per place, plus what changed.
  const restBound = changed + runs * 2 * MiB + MiB
  const resticRaw = resticAdded(root, [A, B])
  const resticOpt = resticAdded(root, [Aopt, Bopt])
  t.ok(resticRaw >= 0.8 * sizeB, `restic, raw archives: B adds ${resticRaw} bytes, at least 80% of its ${sizeB}`)
  t.ok(resticOpt <= restBound, `restic, optimized: B adds ${resticOpt} bytes, at most ${restBound} (changed ${changed} in ${runs} places)`)
  t.ok(resticOpt * 4 < resticRaw, 'restic stores far less once optimized')

  // borg: buzhash chunks with its default parameters (average 2 MiB, 512 KiB to 8 MiB).
  const borgBound = changed + runs * 2 * 2 * MiB + 2 * MiB
  const borgRaw = borgAdded(root, [A, B])
  const borgOpt = borgAdded(root, [Aopt, Bopt])
  t.ok(borgRaw >= 0.8 * sizeB, `borg, raw archives: B adds ${borgRaw} bytes, at least 80% of ${sizeB}`)
  t.ok(borgOpt <= borgBound, `borg, optimized: B adds ${borgOpt} bytes, at most ${borgBound}`)
  t.ok(borgOpt * 4 < borgRaw, 'borg stores far less once optimized')

  // rdiff: a delta of B against A's signature is close to what changed.
  const deltaOpt = rdiffDelta(root, Aopt, Bopt)
  const deltaRaw = rdiffDelta(root, A, B)
  t.ok(deltaOpt <= changed * 1.5 + 256 * 1024, `rdiff, optimized: delta ${deltaOpt} bytes, close to the ${changed} changed`)
  t.ok(deltaOpt < deltaRaw, `rdiff, optimized delta ${deltaOpt} < raw delta ${deltaRaw}`)
  t.comment(JSON.stringify({ sizeB, changed, runs, resticRaw, resticOpt, borgRaw, borgOpt, deltaRaw, deltaOpt }))
})
