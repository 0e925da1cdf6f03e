// optimize --share-with an archive that holds none of the new one's blocks
// (another guest's, or one whose optimization failed and was left unaligned):
// the filesystem refused nothing, so the summary must not say it did; an
// operator told "the filesystem refused to clone" goes looking for a fault
// in a storage that works.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, ROOT, cliEnv } from './helpers.js'
import { loopFs, whyNoLoopFs } from './share-helpers.js'

const FIXTURES = join(ROOT, '..', 'shared', 'fixtures')

t.test(
  '--share-with an archive with no block in common: nothing shared, and no claim that the filesystem refused',
  { skip: whyNoLoopFs('xfs') || (!existsSync(join(FIXTURES, 'two-disks.vma')) && 'shared fixtures missing') },
  async t => {
    const mnt = loopFs(t, 'xfs', 300)
    const prev = join(mnt, 'vzdump-qemu-100-2026_11_20-01_00_00.vma')
    const next = join(mnt, 'vzdump-qemu-101-2026_11_21-01_00_00.vma')
    // Random bytes: not one 4 KiB block (not even one of zeros in the header's padding) in common with the new archive.
    writeFileSync(prev, randomBytes(1 << 20))
    copyFileSync(join(FIXTURES, 'two-disks.vma'), next)
    const r = spawnSync(BIN, ['optimize', '--json', '--share-with', prev, next], { env: cliEnv(), encoding: 'utf8' })
    t.equal(r.status, 0, r.stderr)
    const share = (JSON.parse(r.stdout) as { share: { sharedBytes: number; why: string | null } }).share
    t.equal(share.sharedBytes, 0, 'nothing in common, nothing shared')
    t.equal(share.why, null, `no reason given as if the filesystem had refused: ${share.why}`)
    // What was written is what optimize --align writes, byte for byte.
    const plain = join(mnt, 'aligned.vma')
    copyFileSync(join(FIXTURES, 'two-disks.vma'), plain)
    t.equal(spawnSync(BIN, ['optimize', '--align', plain], { env: cliEnv() }).status, 0, 'optimize --align of the same input')
    t.ok(readFileSync(next).equals(readFileSync(plain)), 'the shared output equals optimize --align output')
  },
)
