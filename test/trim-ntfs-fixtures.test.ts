// The NTFS reader on the shared trim fixtures (images made by mkntfs + ntfs-3g,
// expected results from ntfscat $Bitmap and cross-checked with ntfswipe): the
// free ranges must be exactly NAME.free.json, and zeroing them must give the
// manifest's sha256 of the trimmed volume. The partition offsets come from the
// manifest, so this needs no partition layer.

import t from 'tap'
import { skipHere } from './tools.js'
import { execFileSync } from 'node:child_process'
import { chmodSync, closeSync, openSync, readFileSync, readSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { readNtfs } from '../src/trim/ntfs/ntfs.js'
import { TRIM_FIXTURES, fileVolume, freeRanges, haveTrimFixtures, missing, run, sha256, sha256File, status, zeroRanges } from './fixtures/ntfs-tools.js'

/** Copies bytes [offset, offset + length) of `from` into a new file `to`. */
function extract(from: string, offset: number, length: number, to: string): void {
  const src = openSync(from, 'r')
  const dst = openSync(to, 'w')
  const buf = Buffer.alloc(1 << 22)
  for (let done = 0; done < length; ) {
    const n = readSync(src, buf, 0, Math.min(buf.length, length - done), offset + done)
    writeSync(dst, buf, 0, n, done)
    done += n
  }
  closeSync(src)
  closeSync(dst)
}

interface Volume {
  id: string
  kind: string
  offset: number
  length: number
  decision: string
  reason?: string
  sha256: string
  free_bytes?: number
  sha256_after_trim?: string
  files?: { path: string; size: number; sha256: string }[]
}
interface Image {
  name: string
  file: string
  sha256: string
  volumes: Volume[]
}

const opts = { journal: 'strict', lvmFree: false } as const
const noTool = missing('zstd', 'ntfsfix', 'ntfscat', 'ntfslabel')

if (!haveTrimFixtures) skipHere(t, `trim fixtures not found at ${TRIM_FIXTURES}`)
else if (noTool) skipHere(t, `${noTool} is not installed`)
else {
  const manifest = JSON.parse(readFileSync(join(TRIM_FIXTURES, 'manifest.json'), 'utf8')) as { images: Image[] }
  for (const image of manifest.images.filter(i => i.volumes.some(v => v.kind === 'ntfs'))) {
    t.test(image.name, async t => {
      const dir = t.testdir()
      const path = join(dir, `${image.name}.img`)
      execFileSync('zstd', ['-d', '-q', '--long=27', join(TRIM_FIXTURES, image.file), '-o', path])
      chmodSync(path, 0o644)
      const expectedFree = JSON.parse(readFileSync(join(TRIM_FIXTURES, `${image.name}.free.json`), 'utf8')).ranges as Record<string, [number, number][]>
      for (const v of image.volumes.filter(v => v.kind === 'ntfs')) {
        t.test(v.id, async t => {
          const volPath = join(dir, `${v.id}.img`)
          extract(path, v.offset, v.length, volPath)
          t.equal(sha256File(volPath), v.sha256, 'volume as the manifest describes it')
          const vol = fileVolume(volPath)
          const verdict = await readNtfs(vol, opts)
          vol.close()
          t.ok(verdict, 'recognised as NTFS')
          t.equal(verdict?.label, run('ntfslabel', ['-f', volPath]).toString().trim(), 'label as ntfslabel reads it')
          if (v.decision === 'skip') {
            t.equal(verdict?.decision, 'skip', `skipped: ${verdict?.decision === 'skip' ? verdict.reason : ''}`)
            if (verdict?.decision === 'skip') t.match(verdict.reason, /dirty/i, 'for the reason the manifest gives')
            return
          }
          if (verdict?.decision !== 'trim') return t.fail(`expected trim, got ${JSON.stringify(verdict)}`)
          const ranges = freeRanges(verdict.map)
          t.same(
            ranges.map(([o, l]) => [o + v.offset, l]),
            expectedFree[v.id],
            'free ranges equal NAME.free.json',
          )
          t.equal(verdict.freeBytes, v.free_bytes, 'free bytes')
          zeroRanges(volPath, 0, ranges)
          t.equal(sha256File(volPath), v.sha256_after_trim, 'trimmed volume has the expected sha256')
          t.equal(status('ntfsfix', ['-n', volPath]).rc, 0, 'ntfsfix -n is happy with the trimmed volume')
          const changed = (v.files ?? []).filter(f => sha256(run('ntfscat', [volPath, f.path])) !== f.sha256)
          t.same(changed, [], `all ${v.files?.length} files unchanged (ntfscat)`)
        })
      }
    })
  }
}
