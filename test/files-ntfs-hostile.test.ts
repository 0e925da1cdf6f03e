// The NTFS file reader (src/files/ntfs/) on damaged and unusual volumes: an
// ntfs-3g-filled image is copied and one structure is broken per test (a torn
// MFT record, an index entry whose sub-node lies outside the index, an
// extension record that names itself as its base, a damaged LZNT1 chunk):
// each gives one VMA_GUEST_DAMAGED naming the MFT record and its volume
// offset, and nothing hangs. Also: attribute lists read right, reparse-point
// symlinks and junctions, other reparse tags refused by name, and a dirty
// volume read with one warning.

import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { copyFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { GuestFs } from '../src/files/guest-fs.js'
import { VmaError } from '../src/util/errors.js'
import { attributeAt, fillBigDirectory, makeNtfs, openImage, patchRecord, readAll, residentValue, sha, text, withMount } from './fixtures/ntfs-files.js'
import { bootFacts, bytes, readAt, recordOffset, runlistOf, streamOffset, writeAt } from './fixtures/ntfs-image.js'
import { needTools, skipHere } from './tools.js'

const noTool = needTools('mkntfs', 'ntfs-3g', 'umount', 'setfattr', 'ntfsinfo')
if (noTool) skipHere(t, noTool)
else {
  const dir = t.testdir()
  const pristine = join(dir, 'pristine.img')
  makeNtfs(pristine, 32)
  const STREAMS = 40
  const ino = withMount(t, pristine, mnt => {
    fillBigDirectory(mnt, 1500)
    writeFileSync(join(mnt, 'comp-dir-marker'), 'x')
    run2('mkdir', [join(mnt, 'comp')])
    run2('setfattr', ['-n', 'system.ntfs_attrib_be', '-v', '0x00000810', join(mnt, 'comp')])
    writeFileSync(join(mnt, 'comp/text.txt'), text(200_000))
    writeFileSync(join(mnt, 'init.bin'), bytes(50_000, 77))
    writeFileSync(join(mnt, 'streams.txt'), 'base\n')
    for (let i = 0; i < STREAMS; i++) writeFileSync(join(mnt, `streams.txt:s${i}`), bytes(300, 1000 + i))
    const reparse = (name: string, hex: string, dir = false) => {
      if (dir) run2('mkdir', [join(mnt, name)])
      else writeFileSync(join(mnt, name), '')
      run2('setfattr', ['-n', 'system.ntfs_reparse_data', '-v', `0x${hex}`, join(mnt, name)])
    }
    reparse('rp-symlink', reparseHex(0xa000000c, 'sub\\dir\\file', 'sub\\dir\\file', 1))
    reparse('rp-junction', reparseHex(0xa0000003, '\\??\\C:\\Windows', 'C:\\Windows'), true)
    reparse('rp-wof', '170000801000000001000000020000000000000000000000')
    const stat = (p: string) => Number(run2('stat', ['-c', '%i', join(mnt, p)]).trim())
    return { many: stat('many'), text: stat('comp/text.txt'), streams: stat('streams.txt'), init: stat('init.bin') }
  })
  const { recordSize, clusterSize } = bootFacts(pristine)

  /** A copy of the pristine image, broken by `brk`, opened by the reader. */
  const broken = async (t: Tap, brk: (img: string) => void): Promise<GuestFs> => {
    const img = join(t.testdir(), 'broken.img')
    copyFileSync(pristine, img)
    brk(img)
    return openImage(t, img)
  }
  const damaged = async (t: Tap, p: Promise<unknown>, record: number, what: RegExp) => {
    const e = await p.then(
      () => undefined,
      (e: unknown) => e,
    )
    t.ok(e instanceof VmaError, `a VmaError: ${String(e)}`)
    if (!(e instanceof VmaError)) return
    t.equal(e.code, 'VMA_GUEST_DAMAGED')
    t.match(e.message, new RegExp(`^ntfs test: MFT record ${record} at volume offset ${recordOffset(pristine, record)}: `), 'names the record and its offset')
    t.match(e.message, what)
    t.notOk(e.message.includes('\n'), 'one line')
  }

  t.test('the pristine copy reads: attribute list, compressed text, reparse points', async t => {
    const fs = await broken(t, () => {})
    t.same(fs.warnings, [])
    // 40 named streams do not fit one 1 KiB record: an attribute list spreads them.
    t.match(run2('ntfsinfo', ['-i', String(ino.streams), pristine]), /\$ATTRIBUTE_LIST/, 'the file has an attribute list')
    const names = await fs.streams!(ino.streams)
    t.equal(names.length, STREAMS)
    for (let i = 0; i < STREAMS; i++) t.equal(sha(await readAll((o, b) => fs.readStream!(ino.streams, `s${i}`, o, b))), sha(bytes(300, 1000 + i)), `stream s${i}`)
    t.equal(sha(await readAll((o, b) => fs.read(ino.text, o, b))), sha(text(200_000)), 'compressed text')
    const byName = new Map<string, number>()
    for await (const e of fs.readdir(fs.root)) byName.set(e.name.toString(), e.id)
    const sym = byName.get('rp-symlink')!
    t.equal((await fs.stat(sym)).type, 'symlink')
    t.equal((await fs.readlink(sym)).toString(), 'sub/dir/file', 'a relative symlink: print name, / separators')
    t.equal((await fs.readlink(byName.get('rp-junction')!)).toString(), 'C:\\Windows', 'a junction: its print name as Windows wrote it')
    const wof = byName.get('rp-wof')!
    t.equal((await fs.stat(wof)).type, 'file')
    await t.rejects(fs.read(wof, 0, Buffer.alloc(10)), { code: 'VMA_GUEST_UNSUPPORTED', message: /IO_REPARSE_TAG_WOF \(0x80000017\)/ })
  })

  t.test('a file whose initialized size is below its size reads zeros past it (as Windows returns them)', async t => {
    const fs = await broken(t, img => patchRecord(img, recordOffset(img, ino.init), recordSize, rec => rec.writeBigUInt64LE(10_000n, attributeAt(rec, 0x80, '') + 0x38)))
    const want = Buffer.concat([bytes(50_000, 77).subarray(0, 10_000), Buffer.alloc(40_000)])
    t.equal(sha(await readAll((o, b) => fs.read(ino.init, o, b), 4096)), sha(want))
    t.equal((await fs.stat(ino.init)).size, 50_000)
    const runs = []
    for await (const r of fs.runs(ino.init)) runs.push(r)
    t.same(runs, [
      { offset: 0, length: 10_000, data: true },
      { offset: 10_000, length: 40_000, data: false },
    ])
  })

  t.test('a torn MFT record (update sequence mismatch)', async t => {
    const fs = await broken(t, img => {
      const at = recordOffset(img, ino.text) + 510
      writeAt(img, at, Buffer.from([readAt(img, at, 1)[0]! ^ 0xff]))
    })
    await damaged(t, fs.stat(ino.text), ino.text, /update sequence mismatch/)
  })

  t.test('an index entry whose sub-node lies outside the index', async t => {
    const fs = await broken(t, img =>
      patchRecord(img, recordOffset(img, ino.many), recordSize, rec => {
        const root = residentValue(rec, attributeAt(rec, 0x90, '$I30'))
        const header = root + 0x10
        let p = header + rec.readUInt32LE(header)
        while ((rec.readUInt16LE(p + 0x0c) & 1) === 0) p += rec.readUInt16LE(p + 0x08)
        rec.writeBigUInt64LE(0x7fffffffn, p + rec.readUInt16LE(p + 0x08) - 8)
      }),
    )
    const list = async () => {
      for await (const _ of fs.readdir(ino.many));
    }
    await damaged(t, list(), ino.many, /index block VCN 2147483647 is outside \$INDEX_ALLOCATION/)
  })

  t.test('an extension record that names itself as its base (a cycle)', async t => {
    const fs = await broken(t, img => {
      const list = run2('ntfsinfo', ['-v', '-i', String(ino.streams), img])
      const ext = [...list.matchAll(/MFT reference:\s+(\d+)/gi)].map(m => Number(m[1])).find(n => n !== ino.streams)
      if (ext === undefined) throw new Error('no extension record found')
      patchRecord(img, recordOffset(img, ext), recordSize, rec => rec.writeBigUInt64LE((BigInt(rec.readUInt16LE(0x10)) << 48n) | BigInt(ext), 0x20))
    })
    await damaged(t, fs.streams!(ino.streams), ino.streams, /extension record \d+ .* belongs to record \d+/)
  })

  t.test('a damaged LZNT1 chunk', async t => {
    const fs = await broken(t, img => {
      const at = streamOffset(runlistOf(img, ino.text), clusterSize, 0)
      writeAt(img, at + 2, Buffer.from([0xff])) // the first token of the first chunk: a back reference before anything was written
    })
    await damaged(t, fs.read(ino.text, 0, Buffer.alloc(4096)), ino.text, /compression unit 0 .*LZNT1 chunk 0: back reference \d+ bytes before the chunk's start/)
  })

  t.test('a hibernated Windows (hiberfil.sys holds an image) reads, with one warning', async t => {
    const fs = await broken(t, img => withMount(t, img, mnt => writeFileSync(join(mnt, 'hiberfil.sys'), Buffer.concat([Buffer.from('hibr'), Buffer.alloc(8188)]))))
    t.equal(fs.warnings.length, 1)
    t.match(fs.warnings[0], /hiberfil\.sys: .*hibernation image.*recent changes may be missing/)
    t.equal(sha(await readAll((o, b) => fs.read(ino.text, o, b))), sha(text(200_000)))
  })

  t.test('a volume marked dirty reads, with one warning', async t => {
    const fs = await broken(t, img =>
      patchRecord(img, recordOffset(img, 3), recordSize, rec => {
        const v = residentValue(rec, attributeAt(rec, 0x70))
        rec.writeUInt16LE(rec.readUInt16LE(v + 0x0a) | 1, v + 0x0a)
      }),
    )
    t.equal(fs.warnings.length, 1)
    t.match(fs.warnings[0], /dirty.*recent changes may be missing/)
    t.equal(sha(await readAll((o, b) => fs.read(ino.text, o, b))), sha(text(200_000)))
  })
}

type Tap = Test

function run2(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } })
}

/** A symlink (tag 0xA000000C, with flags) or junction (0xA0000003) reparse buffer, as hex for system.ntfs_reparse_data. */
function reparseHex(tag: number, subst: string, print: string, flags?: number): string {
  // Names NUL-terminated, as Windows writes them; the lengths leave the NUL out.
  const s = Buffer.from(`${subst}\0`, 'utf16le')
  const p = Buffer.from(`${print}\0`, 'utf16le')
  const head = Buffer.alloc(8)
  head.writeUInt16LE(0, 0)
  head.writeUInt16LE(s.length - 2, 2)
  head.writeUInt16LE(s.length, 4)
  head.writeUInt16LE(p.length - 2, 6)
  const f = flags === undefined ? Buffer.alloc(0) : Buffer.alloc(4)
  if (flags !== undefined) f.writeUInt32LE(flags)
  const data = Buffer.concat([head, f, s, p])
  const top = Buffer.alloc(8)
  top.writeUInt32LE(tag, 0)
  top.writeUInt16LE(data.length, 4)
  return Buffer.concat([top, data]).toString('hex')
}
