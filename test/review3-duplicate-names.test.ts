// `get -r` against guest directories that a damaged (or hostile) ext4 gives:
// one name twice in a directory (a symlink pointing out of DEST first, then
// a directory and a file of the same name, planted with debugfs and a patch
// of the names), a directory hard link back to an ancestor, and a symlink
// whose target holds a NUL byte. Nothing is ever written through the
// symlink, and each is the guest's damage: one line, VMA_GUEST_DAMAGED,
// exit 1 (not "already exists", which would send the user to --force).

import t from 'tap'
import type { Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, cliEnv } from './helpers.js'
import { needTools } from './tools.js'
import { run } from './restore-build.js'

const cli = (args: string[]) => spawnSync(BIN, args, { env: cliEnv(), maxBuffer: 16 << 20 })

/** Replaces the first occurrence of each `from` in the file by its `to` (same length). */
function patch(file: string, pairs: [Buffer, Buffer][]): void {
  const b = readFileSync(file)
  for (const [from, to] of pairs) {
    const at = b.indexOf(from)
    if (at < 0) throw new Error(`${from.toString('hex')} not in ${file}`)
    to.copy(b, at)
  }
  writeFileSync(file, b)
}

const skip = needTools('mkfs.ext4', 'debugfs')
if (skip) t.plan(0, skip)
else {
  const dir = t.testdir()
  const outside = join(dir, 'escape')
  const tree = join(dir, 'tree')
  mkdirSync(join(tree, 'dup/real'), { recursive: true })
  mkdirSync(join(tree, 'loop/d/sub'), { recursive: true })
  mkdirSync(join(tree, 'nul'), { recursive: true })
  mkdirSync(join(tree, 'dag/D'), { recursive: true })
  writeFileSync(join(tree, 'dag/D/f'), 'once\n')
  writeFileSync(join(tree, 'dup/real/f'), 'inside\n')
  writeFileSync(join(tree, 'dup/file'), 'data\n')
  symlinkSync(outside, join(tree, 'dup/x'))
  symlinkSync('abcdefgh', join(tree, 'nul/ln'))
  const img = join(dir, 'fs.img')
  run('mkfs.ext4', ['-q', '-F', '-O', '^metadata_csum,^dir_index', '-d', tree, img, '8M'])
  // Links appended after the symlink x, then renamed x by patching their one-byte names (name_len 1, file type 2 = dir, 1 = file).
  run('debugfs', ['-w', '-R', 'ln /dup/real /dup/Q', img])
  run('debugfs', ['-w', '-R', 'ln /dup/file /dup/W', img])
  run('debugfs', ['-w', '-R', 'ln /loop/d /loop/d/sub/back', img])
  run('debugfs', ['-w', '-R', 'ln /dag/D /dag/E', img])
  patch(img, [
    [Buffer.from('\x01\x02Q'), Buffer.from('\x01\x02x')],
    [Buffer.from('\x01\x01W'), Buffer.from('\x01\x01x')],
    [Buffer.from('abcdefgh'), Buffer.from('abc\0efgh')],
  ])
  const vma = join(dir, 'evil.vma')
  run(BIN, ['pack', '-q', vma, '--disk', `drive-virtio0=${img}`])

  const damaged = (t: Test, args: string[], out: string) => {
    const r = cli(args)
    const err = r.stderr.toString()
    t.equal(r.status, 1, err)
    t.match(err, /VMA_GUEST_DAMAGED/)
    t.equal(err.trim().split('\n').length, 1, 'one line')
    t.notOk(existsSync(out), 'nothing at DEST')
    t.notOk(existsSync(outside), 'nothing through the symlink')
    t.same(
      readdirSync(dir).filter(n => n.includes('vma-opt')),
      [],
      'no temp tree left',
    )
  }

  t.test('a name twice in one directory, a symlink out of DEST first', async t => {
    t.match(cli(['ls', vma, 'virtio0:/dup']).stdout.toString(), /^x\nx\nx\n|x\n.*x\n.*x\n/s, 'ls lists the three x')
    damaged(t, ['get', '-r', vma, 'virtio0:/dup', join(dir, 'out-dup')], join(dir, 'out-dup'))
    damaged(t, ['get', '-r', '--xattrs', vma, 'virtio0:/dup', join(dir, 'out-dup2')], join(dir, 'out-dup2'))
  })

  t.test('a directory linked into itself', async t => {
    damaged(t, ['get', '-r', vma, 'virtio0:/loop', join(dir, 'out-loop')], join(dir, 'out-loop'))
  })

  // Not a loop, but n levels of two links each would write 2^n copies: a directory is written once.
  t.test('a directory reached by two names', async t => {
    damaged(t, ['get', '-r', vma, 'virtio0:/dag', join(dir, 'out-dag')], join(dir, 'out-dag'))
    t.equal(cli(['get', '-r', vma, 'virtio0:/dag/E', join(dir, 'out-E')]).status, 0, 'each name alone is a tree')
    t.equal(readFileSync(join(dir, 'out-E/f'), 'utf8'), 'once\n')
  })

  t.test('a symlink target holding NUL', async t => {
    t.match(cli(['ls', '-l', vma, 'virtio0:/nul']).stdout.toString(), /ln -> abc\\x00efgh\n/)
    damaged(t, ['get', vma, 'virtio0:/nul/ln', join(dir, 'out-ln')], join(dir, 'out-ln'))
    damaged(t, ['get', '-r', vma, 'virtio0:/nul', join(dir, 'out-nul')], join(dir, 'out-nul'))
  })
}
