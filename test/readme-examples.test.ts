// The README's shell examples stay true: every line of its ```sh blocks that
// runs vma-opt and can run here (no system paths, no daemon, no package
// manager) is run as written, in order, in one directory holding the
// archives the examples name, through a shell with `vma-opt` on PATH; each
// must exit 0. The lines left out are listed by rule, so a new example is
// either run or visibly excluded.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeContent, makeVma } from './fixtures/make-vma.js'
import { BIN, ROOT, cliEnv } from './helpers.js'
import { needTools } from './tools.js'

/** Why a README line is not run here, or undefined when it runs. */
function excluded(line: string): string | undefined {
  if (!/(^|\| *)vma-opt /.test(line)) return 'not a vma-opt command'
  if (/vma-opt serve /.test(line)) return 'a server that runs until stopped (test/serve.test.ts)'
  if (/\/dev\/|\/etc\/|\/run\//.test(line)) return 'touches the system (a device, /etc, /run)'
  if (/vma-opt (ls|get) \S*.*:\//.test(line))
    return "reads files inside a guest filesystem, which these archives' disks do not hold (test/restore-*.test.ts run ls and get on real ext4, NTFS and XFS guests)"
  return undefined
}

/** The lines of every ```sh block, comments (` # ...` to the end) removed. */
function shellLines(markdown: string): string[] {
  const out: string[] = []
  for (const m of markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)) {
    for (const raw of m[1]!.split('\n')) {
      const line = raw.replace(/\s#\s.*$/, '').trim()
      if (line && !line.startsWith('#')) out.push(line)
    }
  }
  return out
}

t.test('every runnable shell example of the README exits 0', { skip: needTools('zstd') }, async t => {
  const lines = shellLines(readFileSync(join(ROOT, 'README.md'), 'utf8'))
  const run = lines.filter(l => !excluded(l))
  t.ok(run.length >= 12, `${run.length} of ${lines.length} lines run here`)
  for (const l of lines) if (excluded(l)) t.comment(`not run: ${l} (${excluded(l)})`)

  const dir = t.testdir()
  const bin = join(dir, 'bin')
  mkdirSync(bin)
  symlinkSync(BIN, join(bin, 'vma-opt'))
  const zst = (name: string, buf: Buffer) => {
    writeFileSync(join(dir, 'tmp'), buf)
    t.equal(spawnSync('zstd', ['-q', '--rm', join(dir, 'tmp'), '-o', join(dir, `${name}.zst`)]).status, 0, `zstd -o ${name}.zst`)
  }
  // Two days of one VM: scsi0 with a few clusters changed, and the EFI disk.
  const day1 = makeContent(1 << 20, 11)
  const day2 = Buffer.from(day1)
  day2.fill(7, 5 * 65536, 7 * 65536)
  const vm = (scsi0: Buffer, seed: number) =>
    makeVma({
      devices: [
        { name: 'drive-efidisk0', size: 540672, data: makeContent(540672, 12) },
        { name: 'drive-scsi0', size: scsi0.length, data: scsi0 },
      ],
      order: 'interleaved',
      seed,
    }).buf
  writeFileSync(join(dir, 'backup.vma'), vm(day1, 1))
  zst('backup.vma', vm(day1, 2))
  writeFileSync(join(dir, 'in.vma'), vm(day1, 3))
  zst('in.vma', vm(day1, 4))
  zst('monday.vma', vm(day1, 5))
  zst('tuesday.vma', vm(day2, 6))

  const env = cliEnv({ PATH: `${bin}:${process.env.PATH ?? ''}` })
  for (const line of run) {
    const r = spawnSync('sh', ['-c', line], { cwd: dir, env, encoding: 'utf8', maxBuffer: 64 << 20 })
    t.equal(r.status, 0, `${line}: ${r.stderr.trim()}`)
  }
})
