// A fragmented $MFT (built with ntfs-3g through FUSE: the MFT grows past its
// zone into holes left by deleted files): readNtfs must follow every fragment
// ntfsinfo shows, trim exactly like ntfswipe --unused, and find hiberfil.sys
// through a deep root index (1,500 entries in INDX blocks).

import t from 'tap'
import { skipHere } from './tools.js'
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { readNtfs } from '../src/trim/ntfs/ntfs.js'
import { NTFS_TOOLS } from './fixtures/ntfs-check.js'
import { buildFragmentedMft, fuseWorks, runlistOf } from './fixtures/ntfs-image.js'
import { fileVolume, freeRanges, missing, run, sha256, status, zeroRanges } from './fixtures/ntfs-tools.js'

const opts = { journal: 'strict', lvmFree: false } as const
const noTool = missing(...NTFS_TOOLS, 'ntfs-3g')

async function verdictOf(path: string) {
  const vol = fileVolume(path)
  try {
    return await readNtfs(vol, opts)
  } finally {
    vol.close()
  }
}

if (noTool) skipHere(t, `${noTool} is not installed (Debian package ntfs-3g)`)
else {
  t.test('fragmented $MFT', { skip: fuseWorks(t.testdir()) ? false : 'ntfs-3g cannot mount here (no FUSE)' }, async t => {
    const path = join(t.testdir(), 'frag.img')
    const frag = buildFragmentedMft(path)
    const mftRuns = runlistOf(path, 0)
    t.ok(mftRuns.length >= 2, `ntfsinfo shows $MFT in ${mftRuns.length} fragments`)
    const v = await verdictOf(path)
    t.equal(v?.decision, 'trim', v?.decision === 'skip' ? v.reason : 'trimmed')
    if (v?.decision !== 'trim') return
    t.equal(v.details?.mftFragments, mftRuns.length, 'the reader followed every fragment')
    const wiped = `${path}.wiped`
    copyFileSync(path, wiped)
    run('ntfswipe', ['-f', '-q', '-u', wiped])
    zeroRanges(path, 0, freeRanges(v.map))
    t.ok(readFileSync(path).equals(readFileSync(wiped)), 'byte-identical to ntfswipe --unused')
    t.equal(status('ntfsfix', ['-n', path]).rc, 0, 'ntfsfix -n')
    t.same(
      [...frag.files].filter(([p, h]) => sha256(run('ntfscat', ['-f', path, p])) !== h),
      [],
      'files unchanged',
    )
    // hiberfil.sys found through a deep root index (1,500 entries).
    writeFileSync(`${path}.h`, Buffer.from('HIBRxxxx'))
    run('ntfscp', ['-f', '-q', path, `${path}.h`, 'hiberfil.sys'])
    const h = await verdictOf(path)
    t.match(h?.decision === 'skip' ? h.reason : '', /hibernation image/, 'hiberfil.sys found and skipped')
  })
}
