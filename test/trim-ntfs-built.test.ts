// NTFS volumes built at test time (mkntfs -F -Q over garbage, files written and
// deleted with ntfs-3g), one per cluster size: zeroing the clusters readNtfs
// declares free must give exactly what `ntfswipe --unused` gives on a copy,
// leave ntfsfix -n happy and every file's content (ntfscat) unchanged, and
// change nothing outside the free clusters. This file: 512 B to 4 KiB,
// and files written without FUSE.

import t from 'tap'
import { skipHere } from './tools.js'
import { join } from 'node:path'
import { NTFS_TOOLS, trimAndCheck } from './fixtures/ntfs-check.js'
import { buildNtfs } from './fixtures/ntfs-image.js'
import { missing } from './fixtures/ntfs-tools.js'

const noTool = missing(...NTFS_TOOLS)
if (noTool) skipHere(t, `${noTool} is not installed (Debian package ntfs-3g)`)
else {
  for (const clusterSize of [512, 1024, 2048, 4096]) {
    t.test(`cluster size ${clusterSize}`, async t => {
      const path = join(t.testdir(), 'ntfs.img')
      const img = buildNtfs(path, { sizeMiB: 8, clusterSize, label: `C${clusterSize}`, seed: clusterSize })
      t.comment(`files written with ${img.method}`)
      await trimAndCheck(t, path, img.label, img.files)
    })
  }
  t.test('files written with ntfscp, freed with ntfstruncate (no FUSE)', async t => {
    const path = join(t.testdir(), 'ntfs.img')
    const img = buildNtfs(path, { sizeMiB: 8, fuse: false, files: 18, label: 'NoFuse' })
    await trimAndCheck(t, path, img.label, img.files)
  })
}
