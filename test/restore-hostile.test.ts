// The restore layer against hostile guests and careless users: names that
// would leave DEST (a name with '/', a '..' entry, planted by editing the
// directory block of a filesystem without checksums), symlinks that point
// out of the guest, a loop of symlinks, a DEST that exists, a path that does
// not exist, a directory without -r. Nothing is ever written outside DEST,
// and nothing half-written is left.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, symlinkSync, openSync, readSync, writeSync, closeSync, fstatSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, cliEnv } from './helpers.js'
import { needTools } from './tools.js'
import { run } from './restore-build.js'

const cli = (args: string[], cwd?: string) => spawnSync(BIN, args, { env: cliEnv(), cwd, maxBuffer: 16 << 20 })

/** Replaces the first occurrence of `from` in the file by `to` (same length). */
function patch(file: string, from: string, to: string): void {
  const fd = openSync(file, 'r+')
  const buf = Buffer.alloc(fstatSync(fd).size)
  readSync(fd, buf, 0, buf.length, 0)
  const at = buf.indexOf(from)
  if (at < 0) throw new Error(`${from} not in ${file}`)
  writeSync(fd, Buffer.from(to), 0, to.length, at)
  closeSync(fd)
}

const skip = needTools('mkfs.ext4', 'e2fsck')
if (skip) t.plan(0, skip)
else {
  const dir = t.testdir()
  const tree = join(dir, 'tree')
  mkdirSync(join(tree, 'd/sub'), { recursive: true })
  writeFileSync(join(tree, 'd/aXbname'), 'planted\n')
  writeFileSync(join(tree, 'd/sub/zz'), 'renamed to ..\n')
  writeFileSync(join(tree, 'file'), 'hello\n')
  writeFileSync(join(tree, 'etc-passwd'), 'guest\n')
  symlinkSync('/etc/passwd', join(tree, 'abs'))
  symlinkSync('../../../../../../../../tmp', join(tree, 'up'))
  symlinkSync('l2', join(tree, 'l1'))
  symlinkSync('l1', join(tree, 'l2'))
  // A whole-disk filesystem without checksums, so edited names are read as they are.
  const img = join(dir, 'fs.img')
  run('mkfs.ext4', ['-q', '-F', '-O', '^metadata_csum,^dir_index', '-d', tree, img, '8M'])
  const clean = join(dir, 'clean.vma')
  run(BIN, ['pack', '-q', clean, '--disk', `drive-virtio0=${img}`])
  patch(img, 'aXbname', 'a/bname')
  patch(img, '\x02\x01zz', '\x02\x01..')
  const evil = join(dir, 'evil.vma')
  run(BIN, ['pack', '-q', evil, '--disk', `drive-virtio0=${img}`])

  t.test('a whole-disk filesystem has no VOLUME part', async t => {
    const r = cli(['ls', clean])
    t.match(r.stdout.toString(), /^drive-virtio0\s+ext4\s+8 MiB\n$/)
    t.equal(cli(['get', clean, 'virtio0:/file', '-']).stdout.toString(), 'hello\n')
  })

  t.test("a name holding '/' or a second '..' never leaves DEST", async t => {
    const out = join(dir, 'out-evil')
    const r = cli(['get', '-r', evil, 'virtio0:/d', out])
    t.equal(r.status, 1, r.stderr.toString())
    t.match(r.stderr.toString(), /VMA_GUEST_DAMAGED/)
    t.notOk(existsSync(out), 'nothing at DEST')
    t.notOk(existsSync(join(dir, 'a')), 'nothing beside it')
    t.same(
      readdirSync(dir).filter(n => n.includes('vma-opt')),
      [],
      'no temp tree left',
    )
    const sub = cli(['get', '-r', evil, 'virtio0:/d/sub', join(dir, 'out-sub')])
    t.equal(sub.status, 1, sub.stderr.toString())
    t.notOk(existsSync(join(dir, 'out-sub')))
  })

  t.test('symlinks resolve inside the guest, and are written as stored', async t => {
    // /abs -> /etc/passwd: the guest has none, the host's is never read.
    const r = cli(['get', clean, 'virtio0:/abs', '-'])
    t.equal(r.status, 2)
    t.match(r.stderr.toString(), /no passwd in \/ .*VMA_NOT_FOUND|no etc in \/ .*VMA_NOT_FOUND/)
    const up = cli(['ls', clean, 'virtio0:/up/'])
    t.equal(up.status, 2, 'up/../.. stops at the guest root: there is no tmp in it')
    const loop = cli(['get', clean, 'virtio0:/l1/', '-'])
    t.equal(loop.status, 2)
    t.match(loop.stderr.toString(), /more than 40 symlinks/)
    const out = join(dir, 'links')
    t.equal(cli(['get', '-r', clean, 'virtio0:/', out]).status, 0)
    t.equal(spawnSync('readlink', [join(out, 'abs')]).stdout.toString(), '/etc/passwd\n')
    t.equal(spawnSync('readlink', [join(out, 'up')]).stdout.toString(), '../../../../../../../../tmp\n')
  })

  t.test('a DEST that exists is refused without --force, replaced with it', async t => {
    const dest = join(dir, 'exists')
    writeFileSync(dest, 'mine\n')
    const r = cli(['get', clean, 'virtio0:/file', dest])
    t.equal(r.status, 3)
    t.match(r.stderr.toString(), /already exists.*VMA_EXISTS/)
    t.equal(readFileSync(dest, 'utf8'), 'mine\n', 'untouched')
    t.equal(cli(['get', '--force', clean, 'virtio0:/file', dest]).status, 0)
    t.equal(readFileSync(dest, 'utf8'), 'hello\n')
  })

  t.test('a path that does not exist, a directory without -r', async t => {
    const r = cli(['get', clean, 'virtio0:/nope/file', join(dir, 'x')])
    t.equal(r.status, 2)
    t.match(r.stderr.toString(), /no nope in \/.*VMA_NOT_FOUND/)
    const l = cli(['ls', clean, 'virtio0:/file/x'])
    t.equal(l.status, 2)
    t.match(l.stderr.toString(), /not a directory.*VMA_NOT_FOUND/)
    const d = cli(['get', clean, 'virtio0:/d', join(dir, 'y')])
    t.equal(d.status, 2)
    t.match(d.stderr.toString(), /is a directory: get it with -r/)
    t.notOk(existsSync(join(dir, 'y')))
  })

  t.test('the default DEST is the name in the current directory', async t => {
    const cwd = join(dir, 'cwd')
    mkdirSync(cwd)
    t.equal(cli(['get', '-q', clean, 'virtio0:/etc-passwd'], cwd).status, 0)
    t.equal(readFileSync(join(cwd, 'etc-passwd'), 'utf8'), 'guest\n')
  })
}
