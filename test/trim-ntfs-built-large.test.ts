// NTFS volumes built at test time (mkntfs -F -Q over garbage, files written and
// deleted with ntfs-3g), one per cluster size: zeroing the clusters readNtfs
// declares free must give exactly what `ntfswipe --unused` gives on a copy,
// leave ntfsfix -n happy and every file's content (ntfscat) unchanged, and
// change nothing outside the free clusters. This file: 8 KiB to 64 KiB
// clusters, and 4096-byte sectors.

import t from 'tap'
import { skipHere } from './tools.js'
import { join } from 'node:path'
import { NTFS_TOOLS, trimAndCheck } from './fixtures/ntfs-check.js'
import { buildNtfs } from './fixtures/ntfs-image.js'
import { missing } from './fixtures/ntfs-tools.js'

const noTool = missing(...NTFS_TOOLS)
if (noTool) skipHere(t, `${noTool} is not installed (Debian package ntfs-3g)`)
else {
  for (const clusterSize of [8192, 16384, 32768, 65536]) {
    t.test(`cluster size ${clusterSize}`, async t => {
      const path = join(t.testdir(), 'ntfs.img')
      const img = buildNtfs(path, { sizeMiB: 8, clusterSize, label: `C${clusterSize}`, seed: clusterSize })
      t.comment(`files written with ${img.method}`)
      await trimAndCheck(t, path, img.label, img.files)
    })
  }
  t.test('4096-byte sectors (4Kn), 4 KiB MFT records', async t => {
    const path = join(t.testdir(), 'ntfs.img')
    const img = buildNtfs(path, { sizeMiB: 8, sectorSize: 4096, label: '4Kn' })
    await trimAndCheck(t, path, img.label, img.files)
  })
}
