// Volumes readNtfs must not trim, each made from one good mkntfs + ntfs-3g
// image by changing what the case is about (located with ntfsinfo, not with
// the reader's own code): dirty, chkdsk, unclean $LogFile, hibernation image,
// shadow copies, BitLocker, torn MFT record or index block, attribute lists,
// metadata marked free, bitmap size disagreeing with the cluster count. Each
// gives a skip with its reason; the controls next to them (clean log page,
// zeroed hiberfil.sys, VSS header without a catalog) are trimmed.

import t from 'tap'
import { skipHere } from './tools.js'
import type { Test } from 'tap'
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isBitLocker, isExFat, isNtfsBoot, isReFS, readNtfs } from '../src/trim/ntfs/ntfs.js'
import type { VolumeVerdict } from '../src/trim/volume.js'
import { bootFacts, buildNtfs, bytes, readAt, recordOffset, runlistOf, streamOffset, writeAt } from './fixtures/ntfs-image.js'
import { fileVolume, missing, run, sha256 } from './fixtures/ntfs-tools.js'

const opts = { journal: 'strict', lvmFree: false } as const
const noTool = missing('mkntfs', 'ntfscp', 'ntfscat', 'ntfsfix', 'ntfswipe', 'ntfsinfo', 'ntfsls', 'ntfstruncate')

async function verdictOf(path: string, size?: number): Promise<VolumeVerdict | undefined> {
  const vol = fileVolume(path, 0, size)
  try {
    return await readNtfs(vol, opts)
  } finally {
    vol.close()
  }
}

/** Offset (in the raw record) of the first attribute of `type`. */
function attrOffset(rec: Buffer, type: number): number {
  for (let off = rec.readUInt16LE(0x14); off + 8 <= rec.length; off += rec.readUInt32LE(off + 4)) {
    if (rec.readUInt32LE(off) === type) return off
    if (rec.readUInt32LE(off) === 0xffffffff || rec.readUInt32LE(off + 4) === 0) break
  }
  throw new Error(`no attribute 0x${type.toString(16)}`)
}

/** A $LogFile restart page as Windows writes it, with its update sequence array applied. */
function restartPage(pageSize: number, lsn: bigint, clientInUse: number, flags: number, version: [number, number] = [1, 1], usn = 7): Buffer {
  const p = Buffer.alloc(pageSize)
  p.write('RSTR', 0, 'latin1')
  const strides = pageSize / 512
  p.writeUInt16LE(0x1e, 0x04) // update sequence array offset
  p.writeUInt16LE(strides + 1, 0x06) // its entries
  p.writeUInt32LE(pageSize, 0x10) // system page size
  p.writeUInt32LE(pageSize, 0x14) // log page size
  const ra = (0x1e + 2 * (strides + 1) + 7) & ~7
  p.writeUInt16LE(ra, 0x18) // restart area offset
  p.writeInt16LE(version[1], 0x1a) // minor version
  p.writeInt16LE(version[0], 0x1c) // major version
  p.writeBigUInt64LE(lsn, ra) // current LSN
  p.writeUInt16LE(1, ra + 0x08) // log clients
  p.writeUInt16LE(0xffff, ra + 0x0a) // client free list
  p.writeUInt16LE(clientInUse, ra + 0x0c) // client in-use list
  p.writeUInt16LE(flags, ra + 0x0e) // flags
  p.writeUInt16LE(usn, 0x1e)
  for (let i = 1; i <= strides; i++) {
    p.copy(p, 0x1e + 2 * i, i * 512 - 2, i * 512)
    p.writeUInt16LE(usn, i * 512 - 2)
  }
  return p
}

if (noTool) skipHere(t, `${noTool} is not installed (Debian package ntfs-3g)`)
else {
  const dir = t.testdir()
  const good = join(dir, 'good.img')
  buildNtfs(good, { sizeMiB: 8, files: 40, label: 'NEG' })
  const facts = bootFacts(good)
  let n = 0
  /** A copy of the good image changed by `patch`. */
  const variant = (patch: (path: string) => void) => {
    const path = join(dir, `v${n++}.img`)
    copyFileSync(good, path)
    patch(path)
    return path
  }
  const expectSkip = async (t: Test, path: string, reason: RegExp, size?: number) => {
    const before = sha256(readFileSync(path))
    const v = await verdictOf(path, size)
    t.equal(v?.decision, 'skip', `skipped${v?.decision === 'skip' ? `: ${v.reason}` : ''}`)
    if (v?.decision === 'skip') t.match(v.reason, reason, 'for the expected reason')
    t.equal(sha256(readFileSync(path)), before, 'image untouched')
    return v
  }
  const expectTrim = async (t: Test, path: string) => {
    const v = await verdictOf(path)
    t.equal(v?.decision, 'trim', v?.decision === 'skip' ? v.reason : 'trimmed')
    return v
  }
  const patchRecord = (path: string, record: number, change: (rec: Buffer) => void) => {
    const at = recordOffset(path, record)
    const rec = readAt(path, at, facts.recordSize)
    change(rec)
    writeAt(path, at, rec)
  }
  const volumeFlags = (flag: number) => (rec: Buffer) => {
    const a = attrOffset(rec, 0x70)
    const value = a + rec.readUInt16LE(a + 0x14)
    rec.writeUInt16LE(rec.readUInt16LE(value + 0x0a) | flag, value + 0x0a)
  }

  t.test('the good image is trimmed', async t => {
    t.equal((await expectTrim(t, good))?.label, 'NEG')
    t.match(run('ntfsinfo', ['-f', '-i', '5', good]).toString(), /\$INDEX_ALLOCATION/, 'root directory index has INDX blocks')
  })
  t.test('VOLUME_IS_DIRTY', t =>
    expectSkip(
      t,
      variant(p => patchRecord(p, 3, volumeFlags(0x0001))),
      /VOLUME_IS_DIRTY/,
    ),
  )
  t.test('CHKDSK_UNDERWAY', t =>
    expectSkip(
      t,
      variant(p => patchRecord(p, 3, volumeFlags(0x4000))),
      /CHKDSK_UNDERWAY/,
    ),
  )

  t.test('$LogFile restart pages', async t => {
    const withPages = (pages: Buffer[]) =>
      variant(p => {
        const runs = runlistOf(p, 2)
        let off = 0
        for (const page of pages) {
          for (let i = 0; i < page.length; i += facts.clusterSize) writeAt(p, streamOffset(runs, facts.clusterSize, off + i), page.subarray(i, i + facts.clusterSize))
          off += page.length
        }
      })
    await expectSkip(t, withPages([restartPage(4096, 100n, 0, 0), restartPage(4096, 90n, 0, 0)]), /\$LogFile not clean/)
    await expectSkip(t, withPages([restartPage(4096, 100n, 0, 2), restartPage(4096, 200n, 0, 0)]), /\$LogFile not clean.*restart page at 4096/)
    const torn = restartPage(4096, 300n, 0xffff, 2)
    torn[1022]! ^= 0xff
    await expectSkip(t, withPages([torn, restartPage(4096, 100n, 0xffff, 2)]), /update sequence mismatch/)
    await expectSkip(t, withPages([Buffer.alloc(4096, 0x55)]), /no restart page/)
    t.match((await expectTrim(t, withPages([restartPage(4096, 100n, 0, 2), restartPage(4096, 90n, 0, 0)])))?.details?.logFile, /flags 0x2/, 'clean flag')
    t.match((await expectTrim(t, withPages([restartPage(4096, 100n, 0xffff, 0), restartPage(4096, 90n, 0xffff, 0)])))?.details?.logFile, /client in use 0xffff/, 'no client')
    await expectTrim(t, withPages([restartPage(4096, 50n, 0, 0), restartPage(4096, 90n, 0, 2)]))
    await expectTrim(t, withPages([restartPage(4096, 50n, 0, 2, [2, 0]), restartPage(4096, 40n, 0, 2, [2, 0])])) // Windows 8+ log version
    await expectSkip(t, withPages([restartPage(4096, 50n, 0, 0, [2, 0]), restartPage(4096, 40n, 0, 2, [2, 0])]), /not clean/)
    await expectSkip(t, withPages([restartPage(4096, 50n, 0xffff, 2, [3, 0]), restartPage(4096, 40n, 0xffff, 2, [3, 0])]), /log version 3.0 not supported/)
    await expectSkip(t, withPages([restartPage(8192, 50n, 0, 0), restartPage(8192, 40n, 0, 2)]), /not clean/) // 8 KiB system pages
  })

  t.test('hiberfil.sys', async t => {
    const withHiberfil = (content: Buffer) =>
      variant(p => {
        writeFileSync(`${p}.hiberfil`, content)
        run('ntfscp', ['-f', '-q', p, `${p}.hiberfil`, 'hiberfil.sys'])
      })
    const image = (magic: string) => Buffer.concat([Buffer.from(magic, 'latin1'), bytes(65532, 9)])
    await expectSkip(t, withHiberfil(image('hibr')), /hibernation image \('hibr'\)/)
    await expectSkip(t, withHiberfil(image('HIBR')), /hibernation image \('HIBR'\)/)
    await expectSkip(t, withHiberfil(image('xyzw')), /not zeroed or 'wake'/)
    t.match((await expectTrim(t, withHiberfil(Buffer.alloc(65536))))?.details?.hiberfil, /present, header 00000000/)
    t.match((await expectTrim(t, withHiberfil(image('wake'))))?.details?.hiberfil, /present/)
    await expectSkip(t, withHiberfil(Buffer.from('hibr')), /hibernation image/) // a resident $DATA
  })

  t.test('Volume Shadow Copies', async t => {
    // The VSS volume header at 0x1E00 (libvshadow's documentation): identifier, version 1, type 1, catalog offset.
    const vss = (catalog: bigint) =>
      variant(p => {
        const h = Buffer.alloc(0x40)
        Buffer.from('6b87083876c1484eb7ae04046e6cc752', 'hex').copy(h, 0)
        h.writeUInt32LE(1, 0x10)
        h.writeUInt32LE(1, 0x14)
        h.writeBigUInt64LE(0x1e00n, 0x18)
        h.writeBigUInt64LE(catalog, 0x30)
        writeAt(p, 0x1e00, h)
      })
    await expectSkip(t, vss(0x280000n), /Volume Shadow Copies/)
    t.match((await expectTrim(t, vss(0n)))?.details?.shadowCopies, /without a catalog/)
    t.equal((await expectTrim(t, good))?.details?.shadowCopies, 'none')
  })

  t.test('BitLocker signature', async t => {
    const path = variant(p => writeAt(p, 3, Buffer.from('-FVE-FS-', 'latin1')))
    const v = await expectSkip(t, path, /BitLocker/)
    t.equal(v?.kind, 'bitlocker')
    t.ok(isBitLocker(readAt(path, 0, 512)) && !isNtfsBoot(readAt(path, 0, 512)), 'isBitLocker / isNtfsBoot')
    t.ok(isNtfsBoot(readAt(good, 0, 512)) && !isBitLocker(readAt(good, 0, 512)))
  })

  t.test('torn or damaged records', async t => {
    for (const record of [0, 2, 3, 5, 6]) {
      await expectSkip(
        t,
        variant(p => patchRecord(p, record, rec => rec.writeUInt16LE(rec.readUInt16LE(510) ^ 0x0101, 510))),
        new RegExp(`MFT record ${record}: update sequence mismatch`),
      )
    }
    await expectSkip(
      t,
      variant(p => patchRecord(p, 6, rec => rec.write('BAAD', 0, 'latin1'))),
      /BAAD/,
    )
    const indexBlock = variant(p => {
      const at = streamOffset(runlistOf(p, 5, '$INDEX_ALLOCATION'), facts.clusterSize, 0)
      writeAt(p, at + 1022, Buffer.from([0xde, 0xad]))
    })
    await expectSkip(t, indexBlock, /directory index.*update sequence mismatch/)
  })

  t.test('$ATTRIBUTE_LIST on $MFT, $LogFile, $Bitmap', async t => {
    // The first attribute ($STANDARD_INFORMATION, 0x10) becomes an $ATTRIBUTE_LIST (0x20).
    for (const [record, name] of [
      [0, '\\$MFT'],
      [2, '\\$LogFile'],
      [6, '\\$Bitmap'],
    ] as const) {
      await expectSkip(
        t,
        variant(p => patchRecord(p, record, rec => rec.writeUInt32LE(0x20, rec.readUInt16LE(0x14)))),
        new RegExp(`${name} has an \\$ATTRIBUTE_LIST`),
      )
    }
  })

  t.test('metadata marked free in $Bitmap', async t => {
    const clearBit = (cluster: number) =>
      variant(p => {
        const at = streamOffset(runlistOf(p, 6), facts.clusterSize, cluster >> 3)
        writeAt(p, at, Buffer.from([readAt(p, at, 1)[0]! & ~(1 << (cluster & 7))]))
      })
    await expectSkip(t, clearBit(facts.mftLcn + 1), /\$MFT cluster .* marked free/)
    await expectSkip(t, clearBit(0), /\$Boot cluster 0 is marked free/)
    await expectSkip(t, clearBit(runlistOf(good, 2)[0]!.lcn), /\$LogFile cluster .* marked free/)
    await expectSkip(t, clearBit(runlistOf(good, 6)[0]!.lcn), /\$Bitmap cluster .* marked free/)
  })

  t.test('bitmap size disagrees with the cluster count', async t => {
    const path = variant(p => {
      const b = readAt(p, 0, 512)
      b.writeBigUInt64LE(b.readBigUInt64LE(0x28) - BigInt((128 * facts.clusterSize) / 512), 0x28)
      writeAt(p, 0, b)
    })
    await expectSkip(t, path, /\$Bitmap is \d+ bytes/)
    const short = variant(p =>
      patchRecord(p, 6, rec => {
        const a = attrOffset(rec, 0x80)
        const size = rec.readBigUInt64LE(a + 0x30) - 8n
        rec.writeBigUInt64LE(size, a + 0x30) // data size
        rec.writeBigUInt64LE(size, a + 0x38) // initialized size
      }),
    )
    await expectSkip(t, short, /\$Bitmap is \d+ bytes, the \d+ clusters need/)
  })

  t.test('volume larger than its container', t => expectSkip(t, good, /larger than its container/, 7 << 20))

  t.test('not NTFS', async t => {
    t.equal(await verdictOf(variant(p => writeAt(p, 3, Buffer.from('MSDOS5.0')))), undefined)
    const oem = (id: string) => Buffer.concat([Buffer.from([0xeb, 0x76, 0x90]), Buffer.from(id, 'latin1'), Buffer.alloc(501)])
    t.ok(isExFat(oem('EXFAT   ')) && !isNtfsBoot(oem('EXFAT   ')), 'exFAT probe')
    t.ok(isReFS(oem('ReFS\0\0\0\0')) && !isReFS(oem('NTFS    ')), 'ReFS probe')
  })
}
