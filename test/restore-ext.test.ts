// ls and get on a real ext4 guest (test/restore-build.ts): every file, mode,
// owner, mtime, symlink target, hole and hard link through `get -r` equals
// the source tree; `ls -l` equals `debugfs ls -l`; a single file to stdout
// and from a .vma.zst; the btrfs partition is named and refused.

import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, cliEnv } from './helpers.js'
import { needTools } from './tools.js'
import { ODD_NAMES, RESTORE_TOOLS, buildGuest, run, sha, walk } from './restore-build.js'

const cli = (args: string[], input?: Buffer) => spawnSync(BIN, args, { env: cliEnv(), input, maxBuffer: 64 << 20 })

const skip = needTools(...RESTORE_TOOLS)
if (skip) t.plan(0, skip)
else {
  const dir = t.testdir()
  const g = buildGuest(dir)

  t.test('ls without a path: the volumes as info --free-space names them, the btrfs one not readable', async t => {
    const r = cli(['ls', g.archive])
    t.equal(r.status, 0, r.stderr.toString())
    const lines = r.stdout.toString().trim().split('\n')
    t.match(lines[0], /^drive-scsi0:p1\s+ext4\s+64 MiB$/)
    t.match(lines[1], /^drive-scsi0:p2\s+btrfs\s+120 MiB\s+\(cannot read btrfs yet\)$/)
    const info = JSON.parse(cli(['info', '--json', '--free-space', g.archive]).stdout.toString())
    const ids = info.disks[0].volumes.map((v: { id: string }) => v.id)
    t.same(ids, ['p1', 'p2'], 'the same names as info --free-space')
    const j = cli(['ls', '--json', g.archive, 'scsi0'])
      .stdout.toString()
      .trim()
      .split('\n')
      .map(l => JSON.parse(l))
    t.same(
      j.map(v => [v.disk, v.volume, v.kind, v.readable]),
      [
        ['drive-scsi0', 'p1', 'ext4', true],
        ['drive-scsi0', 'p2', 'btrfs', false],
      ],
    )
  })

  t.test('get -r of the whole filesystem equals the source tree', async t => {
    const out = join(dir, 'restored')
    const r = cli(['get', '-r', g.archive, 'scsi0:p1:/', out])
    t.equal(r.status, 0, r.stderr.toString())
    t.match(r.stderr.toString(), /skipped \/fifo: a fifo is not created/)
    const want = walk(g.tree)
    const got = walk(out)
    want.delete('/fifo')
    got.delete('/lost+found')
    t.same([...got.keys()].sort(), [...want.keys()].sort(), 'the same names')
    let bad = 0
    for (const [p, w] of want) {
      const h = got.get(p)
      if (!h) continue
      const { ino: _a, ...wf } = w
      const { ino: _b, ...hf } = h
      // A directory's size is its blocks' on either side: not compared.
      if (w.type === 'dir') {
        wf.size = 0
        hf.size = 0
      }
      // The root: its mode and times are the filesystem's, not the tree's.
      if (p === '/') continue
      if (JSON.stringify(wf) !== JSON.stringify(hf) && bad++ < 5) t.same(hf, wf, p)
    }
    t.equal(bad, 0, 'every file, directory and symlink kept its bytes, mode, owner, mtime and target')
    const links = ['/links/hl1', '/links/hl2', '/home/hl3'].map(p => got.get(p)!.ino)
    t.equal(new Set(links).size, 1, 'hard links stay one inode')
    t.not(got.get('/links/hl1')!.ino, got.get('/etc/hostname')!.ino)
    const sp = statSync(join(out, 'sparse.img'))
    t.equal(sp.size, 9 << 20)
    t.ok(sp.blocks * 512 < 64 << 10, `holes kept: ${sp.blocks * 512} bytes allocated for 9 MiB`)
    t.equal(readlinkSync(join(out, 'links/passwd'), 'utf8'), '/etc/passwd', 'the absolute symlink is written as stored, never followed')
    t.ok(lstatSync(join(out, 'links/escape')).isSymbolicLink(), 'a symlink out of the tree is a symlink, not followed')
    t.notOk(existsSync(join(dir, '.restored.vma-opt-')), 'no temp left')
  })

  t.test('SIGINT while a tree is written: nothing at DEST, no hidden tree left', async t => {
    const out = join(dir, 'interrupted')
    const child = spawn(BIN, ['get', '-r', g.archive, 'scsi0:p1:/', out], { env: cliEnv(), stdio: 'ignore' })
    const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))
    // Wait for the hidden tree to appear and hold some files, then interrupt.
    let hidden: string | undefined
    for (let i = 0; i < 600 && !hidden; i++) {
      await new Promise(r => setTimeout(r, 50))
      const h = readdirSync(dir).find(n => n.startsWith('.interrupted.vma-opt-'))
      if (h && existsSync(join(dir, h, 'many'))) hidden = h
    }
    t.ok(hidden, 'the tree was being written under a hidden name')
    child.kill('SIGINT')
    t.equal(await exited, 130)
    t.notOk(existsSync(out), 'no DEST')
    t.same(
      readdirSync(dir).filter(n => n.startsWith('.interrupted.')),
      [],
      'the hidden tree is removed',
    )
  })

  t.test('frag.bin is fragmented in the guest and comes out whole', async t => {
    const ex = run('debugfs', ['-R', 'ex /frag/frag.bin', g.fsImg])
    const extents = ex.split('\n').filter(l => /^\s*\d+\/\s*\d+/.test(l)).length
    t.ok(extents >= 10, `${extents} extents`)
    const r = cli(['get', g.archive, 'scsi0:p1:/frag/frag.bin', '-'])
    t.equal(r.status, 0, r.stderr.toString())
    t.equal(sha(r.stdout), sha(readFileSync(join(g.tree, 'frag/frag.bin'))))
  })

  t.test('ls -l equals debugfs ls -l: names, modes, sizes', async t => {
    for (const d of ['/', '/many', '/links', '/home/alice', '/frag']) {
      const r = cli(['ls', '-l', g.archive, `scsi0:p1:${d}`])
      t.equal(r.status, 0, r.stderr.toString())
      const ours = r.stdout
        .toString()
        .trim()
        .split('\n')
        .map(l => {
          const m = /^(\S{10})\s+\d+\s+\d+\s+\d+\s+(\d+)\s+\S+ \S+ (.*?)(?: -> .*)?$/.exec(l)!
          return `${m[3]} ${m[1]} ${m[2]}`
        })
        .sort()
      const theirs = run('debugfs', ['-R', `ls -l ${d}`, g.fsImg])
        .split('\n')
        .map(l => /^\s*\d+\s+(\d+)\s+\(\d+\)\s+\d+\s+\d+\s+(\d+)\s+\S+\s+\S+\s(.*)$/.exec(l))
        .filter((m): m is RegExpExecArray => !!m && m[3] !== '.' && m[3] !== '..')
        .map(m => `${m[3]} ${modeOf(Number.parseInt(m[1]!, 8))} ${m[2]}`)
        .sort()
      t.equal(ours.length, theirs.length, `${d}: ${ours.length} entries`)
      t.same(ours, theirs, d)
    }
  })

  t.test('odd names are printed escaped, one per line; --json gives their bytes', async t => {
    const r = cli(['ls', g.archive, 'scsi0:p1:/odd'])
    const lines = r.stdout.toString().trim().split('\n').sort()
    t.same(lines, ['back\\x5cslash', 'f\\xff.b', 'new\\x0aline', 'ünïcode'])
    const j = cli(['ls', '--json', g.archive, 'scsi0:p1:/odd'])
      .stdout.toString()
      .trim()
      .split('\n')
      .map(l => JSON.parse(l) as { name: string; nameHex?: string })
    const bytes = j.map(e => (e.nameHex ? Buffer.from(e.nameHex, 'hex') : Buffer.from(e.name)).toString('hex')).sort()
    t.same(bytes, ODD_NAMES.map(n => n.toString('hex')).sort())
  })

  t.test('--xattrs keeps extended attributes and ACLs (set by setfattr)', async t => {
    const out = join(dir, 'etc-x')
    const r = cli(['get', '-r', '--xattrs', g.archive, 'scsi0:p1:/etc', out])
    t.equal(r.status, 0, r.stderr.toString())
    const dump = (p: string) => run('getfattr', ['-h', '-d', '-m', '-', '-e', 'hex', p]).split('\n').slice(1).join('\n')
    for (const f of ['hostname', 'passwd']) t.equal(dump(join(out, f)), dump(join(g.tree, 'etc', f)), f)
    t.match(dump(join(out, 'passwd')), /system\.posix_acl_access=0x/, 'the ACL is there')
    const plain = join(dir, 'etc-plain')
    t.equal(cli(['get', '-r', g.archive, 'scsi0:p1:/etc', plain]).status, 0)
    t.equal(dump(join(plain, 'hostname')), '', 'none without --xattrs')
  })

  t.test('get of one file from a .vma.zst, spooled and said so', async t => {
    run('zstd', ['-q', '-k', g.archive, '-o', `${g.archive}.zst`])
    const dest = join(dir, 'hostname.out')
    const r = cli(['get', `${g.archive}.zst`, 'scsi0:p1:/bin/tool', dest])
    t.equal(r.status, 0, r.stderr.toString())
    t.match(r.stderr.toString(), /zstd-compressed, spooling it uncompressed/)
    t.equal(sha(readFileSync(dest)), sha(readFileSync(join(g.tree, 'bin/tool'))))
    t.equal(statSync(dest).mode & 0o7777, 0o755)
  })
}

function modeOf(m: number): string {
  // S_IFMT >> 12: 1 fifo, 2 char, 4 dir, 6 block, 8 file, 10 symlink, 12 socket.
  const type = '?pc?d?b?-?l?s???'[(m >> 12) & 15]!
  const r = (s: number, sp: boolean, l: string, u: string) => `${(m >> s) & 4 ? 'r' : '-'}${(m >> s) & 2 ? 'w' : '-'}${(m >> s) & 1 ? (sp ? l : 'x') : sp ? u : '-'}`
  return type + r(6, !!(m & 0o4000), 's', 'S') + r(3, !!(m & 0o2000), 's', 'S') + r(0, !!(m & 0o1000), 't', 'T')
}
