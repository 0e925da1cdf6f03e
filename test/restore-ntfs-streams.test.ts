// NTFS alternate data streams through `ls --streams` and `get --streams`: a
// volume filled by ntfs-3g (streams_interface=windows, so `file:stream` is a
// stream) in partition 1 of a GPT disk packed by `vma-opt pack`. get writes
// each stream as FILE:STREAM beside its file with the bytes ntfs-3g wrote;
// without --streams nothing but the file. A stream name holding '/' (planted
// in the MFT record: ntfs-3g refuses to make one) is refused, and nothing is
// left behind.

import t, { type Test } from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { linkSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeNtfs, sha, withMount } from './fixtures/ntfs-files.js'
import { run } from './fixtures/ntfs-tools.js'
import { BIN, cliEnv } from './helpers.js'
import { needTools, skipHere } from './tools.js'

const noTool = needTools('mkntfs', 'ntfs-3g', 'umount', 'sgdisk')
if (noTool) skipHere(t, noTool)
else {
  const big = Buffer.alloc(300_000)
  for (let i = 0; i < big.length; i++) big[i] = (i * 131 + (i >> 9)) & 0xff
  const streams: [string, Buffer][] = [
    ['Zone.Identifier', Buffer.from('[ZoneTransfer]\r\nZoneId=3\r\n')],
    ['large', big],
  ]

  /** An archive of a GPT disk whose partition 1 holds the NTFS image `fs`. */
  const pack = (dir: string, fs: string): string => {
    const disk = join(dir, 'disk.raw')
    run('truncate', ['-s', '18M', disk])
    run('sgdisk', ['-o', '-n', '1:2048:+16M', '-t', '1:0700', disk])
    run('dd', [`if=${fs}`, `of=${disk}`, 'bs=1M', 'seek=1', 'conv=notrunc', 'status=none'])
    const archive = join(dir, 'vzdump-qemu-100-2026_12_01-00_00_00.vma')
    cli(['pack', '-q', archive, '--disk', `drive-scsi0=${disk}`, '--ctime', '1764000000'])
    return archive
  }
  /** A test dir with a fresh 16 MiB NTFS image in it, filled through an ntfs-3g mount (streams as file:stream). */
  const volume = (t: Test, fill: (mnt: string) => void): { dir: string; fs: string } => {
    const dir = t.testdir({ out: {} })
    const fs = join(dir, 'ntfs.img')
    makeNtfs(fs, 16)
    withMount(t, fs, fill)
    return { dir, fs }
  }
  const cli = (args: string[]) => execFileSync(BIN, args, { env: cliEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

  t.test('ls --streams and get --streams write each stream as FILE:STREAM', async t => {
    const { dir, fs } = volume(t, mnt => {
      writeFileSync(join(mnt, 'report.docx'), 'the main stream\n')
      for (const [name, content] of streams) writeFileSync(join(mnt, `report.docx:${name}`), content)
      linkSync(join(mnt, 'report.docx'), join(mnt, 'second-name.docx'))
      writeFileSync(join(mnt, 'plain.txt'), 'no streams\n')
    })
    const archive = pack(dir, fs)

    const names = cli(['ls', '--streams', archive, 'scsi0:p1:/']).split('\n')
    t.ok(names.includes('report.docx:Zone.Identifier') && names.includes('report.docx:large'), 'ls --streams names them FILE:STREAM')
    t.notOk(
      cli(['ls', archive, 'scsi0:p1:/'])
        .split('\n')
        .some(l => l.includes(':')),
      'without --streams: no stream listed',
    )
    t.match(cli(['ls', '-l', '--streams', archive, 'scsi0:p1:/report.docx']), /\s300000 \S+ \S+ report\.docx:large/, 'ls -l --streams: the stream size')

    // One file: its streams beside DEST.
    const one = join(dir, 'out', 'r.docx')
    cli(['get', '--streams', archive, 'scsi0:p1:/report.docx', one])
    t.equal(readFileSync(one, 'utf8'), 'the main stream\n')
    for (const [name, content] of streams) t.equal(sha(readFileSync(`${one}:${name}`)), sha(content), `${name}: the bytes ntfs-3g wrote`)
    t.equal(statSync(`${one}:large`).mtimeMs, statSync(one).mtimeMs, "a stream has its file's mtime")
    t.equal(spawnSync(BIN, ['get', '--streams', archive, 'scsi0:p1:/report.docx', one], { env: cliEnv() }).status, 3, 'an existing DEST is refused')

    // A tree: every name of the file gets its streams; without --streams none.
    const tree = join(dir, 'out', 'tree')
    cli(['get', '-r', '--streams', archive, 'scsi0:p1:/', tree])
    for (const f of ['report.docx', 'second-name.docx']) {
      for (const [name, content] of streams) t.equal(sha(readFileSync(join(tree, `${f}:${name}`))), sha(content), `${f}:${name}`)
    }
    t.same(
      readdirSync(tree).filter(n => n.startsWith('plain')),
      ['plain.txt'],
      'a file without streams: no extra file',
    )
    const bare = join(dir, 'out', 'bare')
    cli(['get', '-r', archive, 'scsi0:p1:/', bare])
    t.notOk(
      readdirSync(bare).some(n => n.includes(':')),
      'without --streams: no stream written',
    )
  })

  t.test("a stream name holding '/' is refused, nothing written", async t => {
    const { dir, fs } = volume(t, mnt => {
      writeFileSync(join(mnt, 'victim.txt'), 'data\n')
      writeFileSync(join(mnt, 'victim.txt:..!..!escape'), 'planted\n')
    })
    // The stream's name is stored once, in the file's MFT record (no index names it): '!' becomes '/'.
    const img = readFileSync(fs)
    const from = Buffer.from('..!..!escape', 'utf16le')
    let n = 0
    for (let at = img.indexOf(from); at >= 0; at = img.indexOf(from, at + 1), n++) Buffer.from('../../escape', 'utf16le').copy(img, at)
    t.equal(n, 1, 'the name planted once')
    writeFileSync(fs, img)
    const archive = pack(dir, fs)
    const r = spawnSync(BIN, ['get', '-r', '--streams', archive, 'scsi0:p1:/', join(dir, 'out', 'tree')], { env: cliEnv(), encoding: 'utf8' })
    t.equal(r.status, 1, 'VMA_GUEST_DAMAGED')
    t.match(r.stderr, /victim\.txt: stream: the name "\.\.\/\.\.\/escape" cannot be a file name/)
    t.same(readdirSync(join(dir, 'out')), [], 'nothing left in the destination directory')
    t.same(
      readdirSync(dir).filter(n => n.includes('escape')),
      [],
      'nothing escaped',
    )
  })
}
