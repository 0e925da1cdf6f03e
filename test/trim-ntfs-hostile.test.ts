// A hostile NTFS image must give a verdict, never an exception or a hang:
// random bytes of a good image's metadata (boot sector, the first MFT records,
// the root's index blocks, the $LogFile restart pages, the $MFT runlist) are
// changed over and over, and readNtfs must answer each time, quickly, without
// reading outside the volume. Plus hand-made runlists (negative deltas, holes,
// runs past the volume).

import t from 'tap'
import { skipHere } from './tools.js'
import { join } from 'node:path'
import { readNtfs } from '../src/trim/ntfs/ntfs.js'
import { decodeRunlist } from '../src/trim/ntfs/ntfs-attribute.js'
import { NtfsSkip } from '../src/trim/ntfs/ntfs-skip.js'
import type { VolumeReader } from '../src/trim/volume.js'
import { bootFacts, buildNtfs, readWhole, recordOffset, runlistOf, streamOffset } from './fixtures/ntfs-image.js'
import { missing } from './fixtures/ntfs-tools.js'

const opts = { journal: 'strict', lvmFree: false } as const

/** A VolumeReader over a Buffer that fails the test on any read outside it. */
function memoryVolume(buf: Buffer): VolumeReader {
  return {
    size: buf.length,
    async read(out, offset) {
      if (!Number.isSafeInteger(offset) || offset < 0 || offset + out.length > buf.length) throw new Error(`read outside the volume: ${offset}+${out.length}`)
      buf.copy(out, 0, offset, offset + out.length)
    },
  }
}

t.test('runlists', async t => {
  const rl = (bytes: number[], clusters = 1000) => decodeRunlist(Buffer.from(bytes), 0, bytes.length, clusters, 'test')
  t.same(
    rl([0x21, 0x10, 0x00, 0x01, 0x11, 0x08, 0xf0, 0x01, 0x05, 0x00]),
    [
      { vcn: 0, lcn: 256, length: 16 },
      { vcn: 16, lcn: 240, length: 8 },
      { vcn: 24, lcn: undefined, length: 5 },
    ],
    'positive delta, negative delta, hole',
  )
  const reason = (f: () => unknown) => {
    try {
      f()
      return 'no skip'
    } catch (e) {
      return e instanceof NtfsSkip ? e.reason : `threw ${e}`
    }
  }
  t.match(
    reason(() => rl([0x11, 0x10, 0x7f])),
    /past its attribute/,
    'no terminator',
  )
  t.match(
    reason(() => rl([0x11, 0x10, 0xf0, 0x00])),
    /outside the volume/,
    'negative LCN',
  )
  t.match(
    reason(() => rl([0x21, 0x10, 0xf0, 0x03, 0x00])),
    /outside the volume/,
    'run past the last cluster',
  )
  t.match(
    reason(() => rl([0x11, 0x00, 0x05, 0x00])),
    /run length 0/,
    'empty run',
  )
  t.match(
    reason(() => rl([0x91, 0x01, 0x05, 0x00])),
    /malformed/,
    'LCN field of 9 bytes',
  )
  t.match(
    reason(() => rl([0x18, 1, 2, 3, 4, 5, 6, 7, 0x80, 0x00])),
    /run length/,
    'negative length',
  )
})

const noTool = missing('mkntfs', 'ntfscp', 'ntfsinfo', 'ntfsls', 'ntfstruncate')
if (noTool) skipHere(t, `${noTool} is not installed (Debian package ntfs-3g)`)
else
  t.test('random damage to metadata', async t => {
    const path = join(t.testdir(), 'good.img')
    buildNtfs(path, { sizeMiB: 8, files: 20, clusterSize: 1024, label: 'HOSTILE' })
    const f = bootFacts(path)
    const image = readWhole(path)
    /** The used part of each MFT record the reader reads. */
    const record = (n: number): [string, number, number] => {
      const at = recordOffset(path, n)
      return [`MFT record ${n}`, at, image.readUInt32LE(at + 0x18)]
    }
    const areas: [string, number, number][] = [
      ['boot sector fields', 0, 0x50],
      record(0),
      record(1),
      record(2),
      record(3),
      record(5),
      record(6),
      ['root index block', streamOffset(runlistOf(path, 5, '$INDEX_ALLOCATION'), f.clusterSize, 0), 4096],
      ['$LogFile head', streamOffset(runlistOf(path, 2), f.clusterSize, 0), f.clusterSize],
    ]
    const vol = memoryVolume(image)
    t.equal((await readNtfs(vol, opts))?.decision, 'trim', 'the undamaged image is trimmed')
    let seed = 12345
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0
      return (seed >>> 8) % n
    }
    const outcomes = new Map<string, number>()
    const failures: string[] = []
    for (let i = 0; i < 900; i++) {
      const [area, start, length] = areas[i % areas.length]!
      const saved = Buffer.from(image.subarray(start, start + length))
      const changes = 1 + rand(4)
      for (let k = 0; k < changes; k++) image[start + rand(length)] = rand(4) === 0 ? 0xff : rand(256)
      const t0 = Date.now()
      try {
        const v = await readNtfs(vol, opts)
        const key = v === undefined ? 'not NTFS' : v.decision === 'trim' ? 'trim' : v.reason.replace(/[0-9]+/g, 'N').slice(0, 60)
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1)
      } catch (e) {
        failures.push(`${area} #${i}: ${e}`)
      }
      if (Date.now() - t0 > 2000) failures.push(`${area} #${i}: took ${Date.now() - t0} ms`)
      saved.copy(image, start)
    }
    t.same(failures, [], 'every damaged image gave a verdict without an exception, quickly')
    t.ok(outcomes.size > 10, `${outcomes.size} different outcomes`)
    t.comment(
      [...outcomes]
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${n} × ${k}`)
        .join('\n'),
    )
  })
