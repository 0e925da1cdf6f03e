// btrfs volumes built at test time with the real tools (mkfs.btrfs, loop
// mounts with compress=zstd, subvolumes, a read-only snapshot, reflinks,
// files deleted after a commit), with metadata DUP (the default) and single
// and no free-space tree (space_cache v1); trim-btrfs-built2.test.ts: 4 KiB
// nodes (deep trees, free-space bitmaps) and data DUP. For each:
// the ranges the plan zeroes equal what btrfs-progs' own dump-tree of the
// chunk, dev and extent trees says is free; after zeroing them `btrfs check
// --readonly` is clean, every file (snapshot included) reads back with its
// sha256 through a read-only mount, nothing outside the ranges changed, the
// guard's recheck passes, and at least 90% of the deleted data is gone.

import t from 'tap'
import { btrfsMissing } from './fixtures/btrfs-image.js'
import { type BuiltCase, checkBuiltBtrfs } from './fixtures/btrfs-check.js'

const cases: BuiltCase[] = [
  { name: 'defaults (data single, metadata DUP, free-space tree)', mkfs: [] },
  { name: 'metadata single', mkfs: ['-m', 'single'] },
  { name: 'no free-space tree (space_cache v1)', mkfs: ['-R', '^free-space-tree'] },
]

const missing = btrfsMissing()
if (missing) t.plan(0, missing)
else for (const c of cases) t.test(c.name, t => checkBuiltBtrfs(t, c))
