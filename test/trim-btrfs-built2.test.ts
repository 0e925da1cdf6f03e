// btrfs images built at test time, continued from trim-btrfs-built.test.ts:
// 4 KiB nodes with 1500 small files, half of them deleted (an extent tree
// with interior nodes, a fragmented data block group the free-space tree
// keeps as bitmaps), data DUP (every free range zeroed on both copies), and
// empty data chunks removed by a balance, so that the superblock copy at
// 64 MiB lies in unallocated space.
// The same checks: dump-tree's free ranges, btrfs check, every sha256,
// nothing else changed, >= 90% of the deleted data gone.

import t from 'tap'
import { btrfsMissing } from './fixtures/btrfs-image.js'
import { type BuiltCase, checkBuiltBtrfs } from './fixtures/btrfs-check.js'

const cases: BuiltCase[] = [
  { name: '4 KiB nodes, 1500 small files, half deleted: a deep extent tree, free-space bitmaps', mkfs: ['-n', '4096'], smallFiles: 1500 },
  { name: 'data and metadata DUP', mkfs: ['-d', 'dup', '-m', 'dup'] },
  { name: 'empty data chunks balanced away: the 64 MiB superblock copy in unallocated space', mkfs: ['-m', 'single'], balanceEmpty: true },
]

const missing = btrfsMissing()
if (missing) t.plan(0, missing)
else for (const c of cases) t.test(c.name, t => checkBuiltBtrfs(t, c))
