// NTFS volumes built at test time (mkntfs -F -Q over garbage, files written and
// deleted with ntfs-3g), one per cluster size from 512 B to 64 KiB: zeroing the
// clusters readNtfs declares free must give exactly what `ntfswipe --unused`
// gives on a copy, leave ntfsfix -n happy and every file's content (ntfscat)
// unchanged, and change nothing outside the free clusters.

import t from 'tap'
import { copyFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { readNtfs } from '../src/trim/ntfs.js'
import { buildNtfs } from './fixtures/ntfs-image.js'
import { fileVolume, freeRanges, missing, run, sha256, status, zeroRanges } from './fixtures/ntfs-tools.js'

const opts = { journal: 'strict', lvmFree: false } as const
const noTool = missing('mkntfs', 'ntfscp', 'ntfscat', 'ntfsfix', 'ntfswipe', 'ntfsinfo', 'ntfsls', 'ntfstruncate')

async function trimAndCheck(t: Tap.Test, path: string, label: string, files: Map<string, string>) {
  const before = readFileSync(path)
  const vol = fileVolume(path)
  const verdict = await readNtfs(vol, opts)
  vol.close()
  if (verdict?.decision !== 'trim') return t.fail(`expected trim, got ${JSON.stringify(verdict)}`)
  t.equal(verdict.kind, 'ntfs')
  t.equal(verdict.label, label, 'label from $Volume')
  const ranges = freeRanges(verdict.map)
  t.ok(verdict.freeBytes > 0 && verdict.freeBytes === ranges.reduce((n, [, l]) => n + l, 0), `${verdict.freeBytes} bytes free`)
  const wiped = `${path}.ntfswipe`
  copyFileSync(path, wiped)
  run('ntfswipe', ['-f', '-q', '-u', wiped])
  zeroRanges(path, 0, ranges)
  const after = readFileSync(path)
  const expected = Buffer.from(before)
  for (const [o, l] of ranges) expected.fill(0, o, o + l)
  t.ok(after.equals(expected), 'only the declared-free clusters changed, to zeros')
  t.ok(after.equals(readFileSync(wiped)), 'byte-identical to ntfswipe --unused')
  t.ok(before.subarray(ranges[0]![0], ranges[0]![0] + ranges[0]![1]).some((b) => b !== 0), 'free space held garbage before')
  const fix = status('ntfsfix', ['-n', path])
  t.equal(fix.rc, 0, 'ntfsfix -n is happy')
  const changed = [...files].filter(([p, h]) => sha256(run('ntfscat', ['-f', path, p])) !== h).map(([p]) => p)
  t.same(changed, [], `all ${files.size} files unchanged (ntfscat)`)
  t.comment(JSON.stringify(verdict.details))
}

if (noTool) t.skip(`${noTool} is not installed (Debian package ntfs-3g)`)
else {
  for (const clusterSize of [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]) {
    t.test(`cluster size ${clusterSize}`, async (t) => {
      const path = join(t.testdir(), 'ntfs.img')
      const img = buildNtfs(path, { sizeMiB: 16, clusterSize, label: `C${clusterSize}`, seed: clusterSize })
      t.comment(`files written with ${img.method}`)
      await trimAndCheck(t, path, img.label, img.files)
    })
  }
  t.test('files written with ntfscp, freed with ntfstruncate (no FUSE)', async (t) => {
    const path = join(t.testdir(), 'ntfs.img')
    const img = buildNtfs(path, { sizeMiB: 12, fuse: false, files: 18, label: 'NoFuse' })
    await trimAndCheck(t, path, img.label, img.files)
  })
}
