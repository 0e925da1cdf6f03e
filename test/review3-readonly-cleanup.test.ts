// `get -r` run by a user who is not root, of a guest tree holding read-only
// directories (mode 0555, as /usr/lib/... often are): their modes are set
// as stored once their children are written, so when a later entry fails
// (here a damaged name) the half-written tree holds directories its owner
// cannot delete from. It must still vanish, and the error must be the
// guest's damage, not the clean-up's EACCES.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BIN } from './helpers.js'
import { needTools, skipHere } from './tools.js'
import { run } from './restore-build.js'

const NOBODY = 65534
const skip = needTools('mkfs.ext4')
if (skip) t.plan(0, skip)
else if (process.getuid?.() !== 0) skipHere(t, 'needs root to run the CLI as another user')
else {
  const dir = mkdtempSync(join(tmpdir(), 'vma-review3-'))
  t.teardown(() => {
    spawnSync('chmod', ['-R', 'u+rwx', dir])
    rmSync(dir, { recursive: true, force: true })
  })
  chmodSync(dir, 0o755)
  const tree = join(dir, 'tree')
  for (const d of ['p1', 'p2']) {
    mkdirSync(join(tree, 'top', d), { recursive: true })
    writeFileSync(join(tree, 'top', d, 'f'), `${d}\n`)
    writeFileSync(join(tree, 'top', d, `aXb${d}`), 'renamed to a/b\n')
    chmodSync(join(tree, 'top', d), 0o555)
  }
  const img = join(dir, 'fs.img')
  run('mkfs.ext4', ['-q', '-F', '-O', '^metadata_csum,^dir_index', '-d', tree, img, '8M'])
  const clean = join(dir, 'clean.vma')
  run(BIN, ['pack', '-q', clean, '--disk', `drive-virtio0=${img}`])
  // The directory written second gets the damaged name, so the first is complete (and read-only) when get fails.
  const order = run(BIN, ['ls', clean, 'virtio0:/top'])
    .split('\n')
    .filter(n => n === 'p1' || n === 'p2')
  const second = order[1] ?? 'p2'
  const raw = readFileSync(img)
  const at = raw.indexOf(`aXb${second}`)
  if (at < 0) throw new Error(`aXb${second} not in ${img}`)
  raw.write(`a/b${second}`, at)
  writeFileSync(img, raw)
  const evil = join(dir, 'evil.vma')
  run(BIN, ['pack', '-q', evil, '--disk', `drive-virtio0=${img}`])
  chmodSync(clean, 0o644)
  chmodSync(evil, 0o644)
  // As nobody, through env -i: tap's process hooks (which write into the worktree) stay out.
  const asNobody = (args: string[]) => spawnSync('env', ['-i', `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`, BIN, ...args], { uid: NOBODY, gid: NOBODY })
  const outDir = join(dir, 'out')
  mkdirSync(outDir)
  chmodSync(outDir, 0o777)

  t.test('as a user, a tree with a read-only directory vanishes when a later entry is damaged', async t => {
    const ok = asNobody(['get', '-r', clean, 'virtio0:/top', join(outDir, 'good')])
    t.equal(ok.status, 0, ok.stderr.toString())
    const r = asNobody(['get', '-r', evil, 'virtio0:/top', join(outDir, 'bad')])
    const err = r.stderr.toString()
    t.equal(r.status, 1, err)
    t.match(err, /VMA_GUEST_DAMAGED/)
    t.equal(err.trim().split('\n').length, 1, 'one line')
    t.same(readdirSync(outDir).sort(), ['good'], 'no half-written tree left beside DEST')
  })

  t.test('as a user, --force replaces an earlier copy holding a read-only directory', async t => {
    const dest = join(outDir, 'again')
    t.equal(asNobody(['get', '-r', clean, 'virtio0:/top', dest]).status, 0)
    const r = asNobody(['get', '-r', '--force', clean, 'virtio0:/top', dest])
    t.equal(r.status, 0, r.stderr.toString())
    t.same(
      readdirSync(outDir).filter(n => n.includes('again')),
      ['again'],
      'the old copy is not left aside',
    )
  })
}
