// The header's creation time is a signed 64-bit time_t that nothing bounds.
// vma-opt carries it exactly through every rewrite, and prints it the way
// Proxmox's `vma list` does (glibc's ctime(), "(null)" past an int's years)
// in any time zone: compared with the real program on the values the fuzzer
// found (info --list printed "undefined NaN", info --json failed with exit
// 4) and on the edges of JavaScript's dates and of double precision.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeContent, makeVma } from './fixtures/make-vma.js'
import { cliInProcess } from './helpers.js'
import { proxmoxVma } from './proxmox-vma.js'

const CTIMES: bigint[] = [
  0n,
  -1n,
  1795301179n, // a Saturday in November 2026
  1711846800n, // the hour the clocks go forward in Berlin, 2024
  8640000000001n, // one second past JavaScript's last date (year 275760)
  -8640000000001n, // and one second before its first (year -271821)
  8836120008000n, // a July past Date's range: summer time in Berlin by the zone's last rule
  8836074043200n, // the same for New York (a review found these an hour off)
  2n ** 53n + 1n, // no longer exact as a double
  67767976233532799n, // 31 Dec of year 2147483647, 23:59:59 UTC: the last that glibc prints
  67767976233532800n, // one second later: NULL
  0x4000000000000000n, // the fuzzer's value
  -(2n ** 63n),
  2n ** 63n - 1n,
  -62167219200n, // 1 Jan of year 0
]

const vma = proxmoxVma()

/**
 * The CLI in this process (a process per run made this test take minutes):
 * Node re-reads the time zone when TZ is assigned.
 */
async function cli(args: string[], tz = 'UTC') {
  const was = process.env.TZ
  process.env.TZ = tz
  try {
    return await cliInProcess(args)
  } finally {
    if (was === undefined) delete process.env.TZ
    else process.env.TZ = was
  }
}

t.test('info --list prints the creation time as vma list does, in any time zone', { skip: !vma.ok && vma.reason }, async t => {
  if (!vma.ok) return
  const dir = t.testdir()
  for (const ctime of CTIMES) {
    const file = join(dir, `c${ctime}.vma`)
    writeFileSync(file, makeVma({ ctime, devices: [{ name: 'drive-scsi0', size: 1 << 20, data: makeContent(1 << 20, 1) }] }).buf)
    for (const TZ of ['UTC', 'Europe/Berlin', 'America/New_York']) {
      const want = spawnSync(vma.path, ['list', file], { env: { ...process.env, TZ }, encoding: 'utf8' })
      const got = await cli(['info', '--list', file], TZ)
      t.equal(got.stdout, want.stdout, `ctime ${ctime}, TZ=${TZ}: ${JSON.stringify(want.stdout.split('CTIME: ')[1])}`)
    }
  }
})

t.test('every creation time survives optimize exactly, and info --json reports it', async t => {
  const dir = t.testdir()
  for (const ctime of CTIMES) {
    const src = join(dir, `c${ctime}.vma`)
    writeFileSync(src, makeVma({ ctime, order: 'shuffled', devices: [{ name: 'drive-scsi0', size: 1 << 20, data: makeContent(1 << 20, 2) }] }).buf)
    const out = join(dir, `o${ctime}.vma`)
    const o = await cli(['optimize', '-q', src, out])
    t.equal(o.status, 0, `optimize ctime ${ctime}: ${o.stderr.trim()}`)
    t.equal(readFileSync(out).readBigInt64BE(24), ctime, `ctime ${ctime}: the same 8 bytes in the output`)
    const j = await cli(['info', '--json', out])
    t.equal(j.status, 0, `info --json: ${j.stderr.trim()}`)
    const report = JSON.parse(j.stdout || '{}') as { ctime?: number | string; ctimeIso?: string | null }
    t.equal(BigInt(report.ctime ?? 'NaN'), ctime, 'the JSON ctime is exact (a string beyond 2^53)')
    t.equal(typeof report.ctime, Number.isSafeInteger(Number(ctime)) ? 'number' : 'string')
    if (report.ctimeIso !== null) t.equal(BigInt(Date.parse(report.ctimeIso!) / 1000), ctime, 'the ISO time is the same instant')
    else t.ok(ctime > 8640000000000n || ctime < -8640000000000n, 'no ISO time only past what a date can show')
    const text = await cli(['info', out])
    t.equal(text.status, 0, `info: ${text.stderr.trim()}`)
  }
})

t.test('a delta of an archive made past the last date is shown and checked', async t => {
  const dir = t.testdir()
  const ctime = 8640000000001n
  const devices = [{ name: 'drive-scsi0', size: 1 << 20, data: makeContent(1 << 20, 4) }]
  writeFileSync(join(dir, 'a.vma'), makeVma({ ctime, devices }).buf)
  const delta = join(dir, 'd.vma-delta')
  t.equal((await cli(['diff', join(dir, 'a.vma'), join(dir, 'a.vma'), delta])).status, 0, 'diff')
  const info = await cli(['info', delta])
  t.equal(info.status, 0, `info of the delta: ${info.stderr.trim()}`)
  t.match(info.stdout, /8640000000001 seconds after 1970/, 'its time in seconds')
  const v = await cli(['verify', '--base', join(dir, 'a.vma'), delta])
  t.equal(v.status, 0, `verify --base: ${v.stderr.trim()}`)
})

t.test('a delta cannot record a creation time past 2^53 and says so', async t => {
  const dir = t.testdir()
  const ctime = 2n ** 53n + 1n
  const devices = [{ name: 'drive-scsi0', size: 1 << 20, data: makeContent(1 << 20, 3) }]
  writeFileSync(join(dir, 'a.vma'), makeVma({ ctime, devices }).buf)
  writeFileSync(join(dir, 'b.vma'), makeVma({ ctime, devices }).buf)
  const r = await cli(['diff', join(dir, 'a.vma'), join(dir, 'b.vma'), join(dir, 'd.vma-delta')])
  t.equal(r.status, 1, 'exit 1')
  t.match(r.stderr, /^vma-opt: .*creation time 9007199254740993 is beyond what a delta can record.*\(VMA_DELTA_IDENTITY\)\n$/, r.stderr.trim())
})
