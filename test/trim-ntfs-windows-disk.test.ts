// The Windows-like test disk (test/fixtures/windows-disk.ts) and the NTFS
// reader on it: sgdisk and blkid see the layout Windows makes; readNtfs does
// not claim the EFI system partition (FAT32) nor the Microsoft Reserved
// partition, and trims the "Windows" and "Recovery" NTFS volumes exactly like
// ntfswipe --unused; with a BitLocker signature the Windows volume is skipped.

import t from 'tap'
import { skipHere } from './tools.js'
import { closeSync, openSync, readSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { readNtfs } from '../src/trim/ntfs/ntfs.js'
import { NTFS_TOOLS, trimAndCheck } from './fixtures/ntfs-check.js'
import { readAt } from './fixtures/ntfs-image.js'
import { buildWindowsDisk } from './fixtures/windows-disk.js'
import { fileVolume, missing, run, sha256File, status } from './fixtures/ntfs-tools.js'

const opts = { journal: 'strict', lvmFree: false } as const
const noTool = missing(...NTFS_TOOLS, 'sgdisk', 'mkfs.vfat', 'blkid')

/** Copies bytes [offset, offset + length) of `from` into a new file `to`. */
function extract(from: string, offset: number, length: number, to: string): void {
  const src = openSync(from, 'r')
  const dst = openSync(to, 'w')
  const buf = Buffer.alloc(length)
  readSync(src, buf, 0, length, offset)
  writeSync(dst, buf)
  closeSync(src)
  closeSync(dst)
}

if (noTool) skipHere(t, `${noTool} is not installed (Debian packages gdisk, dosfstools, util-linux, ntfs-3g)`)
else {
  t.test('Windows layout', async t => {
    const dir = t.testdir()
    const disk = buildWindowsDisk(join(dir, 'windows.img'))
    const table = run('sgdisk', ['-p', disk.path]).toString()
    for (const p of disk.partitions) {
      t.match(table, new RegExp(`^\\s+${p.number}\\s+${p.offset / 512}\\s+${(p.offset + p.length) / 512 - 1}\\s.*${p.typeCode}\\s+${p.name.slice(0, 18)}`, 'm'), `sgdisk lists p${p.number} ${p.name}`)
    }
    for (const p of disk.partitions) {
      const probe = status('blkid', ['-p', '-O', String(p.offset), '-S', String(p.length), '-o', 'export', disk.path]).out
      if (p.content === 'esp') t.match(probe, /TYPE=vfat/, 'ESP is FAT')
      if (p.content === 'msr') t.notMatch(probe, /TYPE=/, 'MSR has no signature')
      if (p.content === 'windows' || p.content === 'recovery') t.match(probe, new RegExp(`LABEL=${p.label}\\n(.*\\n)*TYPE=ntfs`), `${p.label} is NTFS`)
      const vol = fileVolume(disk.path, p.offset, p.length)
      const verdict = await readNtfs(vol, opts)
      vol.close()
      if (p.content === 'esp' || p.content === 'msr') {
        t.equal(verdict, undefined, `p${p.number} ${p.content} is not claimed by the NTFS reader`)
        continue
      }
      t.equal(verdict?.decision, 'trim', `p${p.number} ${p.label} trimmed`)
      t.equal(readAt(disk.path, p.offset + 0x1c, 4).readUInt32LE(0), p.offset / 512, 'boot sector knows its partition start (hidden sectors)')
      const vpath = join(dir, `p${p.number}.img`)
      extract(disk.path, p.offset, p.length, vpath)
      await t.test(`p${p.number} ${p.label}`, t => trimAndCheck(t, vpath, p.label!, p.files!))
    }
  })

  t.test('BitLocker on the Windows volume', async t => {
    const disk = buildWindowsDisk(join(t.testdir(), 'bitlocker.img'), { bitlocker: true, espMiB: 34, msrMiB: 1, windowsMiB: 12, recoveryMiB: 8, windows: { files: 4 } })
    const p = disk.partitions[2]!
    const before = sha256File(disk.path)
    const vol = fileVolume(disk.path, p.offset, p.length)
    const verdict = await readNtfs(vol, opts)
    vol.close()
    t.equal(verdict?.decision, 'skip')
    t.equal(verdict?.kind, 'bitlocker')
    t.equal(sha256File(disk.path), before, 'disk untouched')
  })
}
