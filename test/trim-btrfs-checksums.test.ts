// btrfs built with each checksum mkfs.btrfs offers besides crc32c: xxhash64
// (xxhash-wasm), sha256 (node:crypto) and BLAKE2b-256 (btrfs-blake2b.ts, as
// Node's crypto has only BLAKE2b-512, checked here against Python's
// hashlib): each volume is trimmed and judged like the crc32c ones
// (trim-btrfs-built.test.ts).

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { blake2b256 } from '../src/trim/btrfs/btrfs-blake2b.js'
import { btrfsMissing, have, randomBytes } from './fixtures/btrfs-image.js'
import { checkBuiltBtrfs } from './fixtures/btrfs-check.js'

const missing = btrfsMissing()
if (missing) t.plan(0, missing)
else {
  for (const [csum, name] of [
    ['xxhash', 'xxhash64'],
    ['sha256', 'sha256'],
    ['blake2', 'blake2b'],
  ] as const) {
    t.test(`${name} checksums`, t => checkBuiltBtrfs(t, { name: csum, mkfs: ['--csum', csum], checksum: name }))
  }
  t.test('BLAKE2b-256 as Python computes it (hashlib.blake2b, digest_size=32)', { skip: have('python3') ? false : 'python3 is not installed' }, async t => {
    for (const n of [0, 1, 127, 128, 129, 256, 4064, 16352, 65504]) {
      const data = randomBytes(`blake2 ${n}`, n + 7)
      const ours = Buffer.alloc(32)
      blake2b256(data, 7, n + 7, ours)
      const py = spawnSync('python3', ['-c', 'import sys, hashlib; print(hashlib.blake2b(sys.stdin.buffer.read(), digest_size=32).hexdigest())'], { input: data.subarray(7), encoding: 'utf8' })
      t.equal(ours.toString('hex'), py.stdout.trim(), `${n} bytes`)
    }
  })
}
