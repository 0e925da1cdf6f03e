import type { VolumeReader } from '../volume.js'
import { lvmCrc } from '../bytes/crc32.js'
import { readAt } from '../layout.js'
import { parseLvmText, isSection, type LvmSection } from './lvm-text.js'
import { TrimSkip, need } from '../skip.js'
import { u32, u64 } from '../bytes/le.js'

// PV label, in one of sectors 0-3 of the PV:
//   0 "LABELONE"   8 u64 sector of this label   16 u32 CRC of bytes 20..511   20 u32 PV header offset (32)
//   24 "LVM2 001"
// PV header: +0 UUID[32] (no dashes), +32 u64 device size, then (offset u64, size u64) data areas ending
// with (0,0), then metadata areas ending with (0,0).
// Metadata area header (512 bytes at the area offset): 0 CRC of 4..511, 4 " LVM2 x[5A%r0N*>", 20 u32 version 1,
// 24 u64 start, 32 u64 size, 40.. raw locations (offset u64 from area start, size u64, text CRC u32, flags u32).

const MDA_MAGIC = ' LVM2 x[5A%r0N*>'
const MAX_TEXT = 16 << 20

export interface PvInfo {
  uuid: string
  /** Metadata areas [offset, size] in PV bytes: never to be touched. */
  mdas: [number, number][]
  /** Sector holding the label. */
  labelSector: number
  vgName: string
  vg: LvmSection
  seqno: number
}

export async function readPv(vol: VolumeReader): Promise<PvInfo> {
  const head = await readAt(vol, 0, Math.min(2048, vol.size))
  let s = -1
  for (let i = 0; i < 4 && (i + 1) * 512 <= head.length; i++) {
    if (head.toString('latin1', i * 512, i * 512 + 8) === 'LABELONE') {
      s = i
      break
    }
  }
  need(s >= 0, 'no LVM label')
  const sec = head.subarray(s * 512, s * 512 + 512)
  need(u64(sec, 8) === s && sec.toString('latin1', 24, 32) === 'LVM2 001', 'LVM label sector/type mismatch')
  need(lvmCrc(sec.subarray(20, 512)) === u32(sec, 16), 'LVM label CRC mismatch')
  let p = u32(sec, 20)
  need(p >= 32 && p + 40 <= 512, 'LVM PV header offset invalid')
  const uuid = sec.toString('latin1', p, p + 32)
  p += 40
  const lists: [number, number][][] = [[], []]
  for (const list of lists) {
    for (;;) {
      need(p + 16 <= 512, 'LVM PV header area list not terminated')
      const o = u64(sec, p)
      const n = u64(sec, p + 8)
      p += 16
      if (o === 0 && n === 0) break
      list.push([o, n])
    }
  }
  const mdas = lists[1]!
  need(mdas.length > 0, 'PV without metadata area')
  let best: { name: string; vg: LvmSection; seqno: number; text: string } | undefined
  for (const [mo, ms] of mdas) {
    const text = await readMdaText(vol, mo, ms)
    if (text === undefined) continue
    const cfg = parseLvmText(text)
    const vgs = Object.entries(cfg).filter(([, v]) => isSection(v))
    need(vgs.length === 1, 'LVM metadata without exactly one VG')
    const [name, vg] = vgs[0] as [string, LvmSection]
    const seqno = typeof vg.seqno === 'number' ? vg.seqno : -1
    if (!best || seqno > best.seqno) best = { name, vg, seqno, text }
    else if (seqno === best.seqno && JSON.stringify(vg) !== JSON.stringify(best.vg)) throw new TrimSkip('LVM metadata copies disagree at the same seqno')
  }
  need(best, 'no valid LVM metadata area')
  return { uuid, mdas, labelSector: s, vgName: best.name, vg: best.vg, seqno: best.seqno }
}

async function readMdaText(vol: VolumeReader, mo: number, ms: number): Promise<string | undefined> {
  if (mo + 512 > vol.size || ms < 1024 || mo + ms > vol.size) return undefined
  const mh = await readAt(vol, mo, 512)
  if (lvmCrc(mh.subarray(4, 512)) !== u32(mh, 0)) return undefined
  if (mh.toString('latin1', 4, 20) !== MDA_MAGIC || u32(mh, 20) !== 1) return undefined
  const size = u64(mh, 32)
  const ro = u64(mh, 40)
  const rs = u64(mh, 48)
  const rc = u32(mh, 56)
  const rf = u32(mh, 60)
  if (rs === 0 || rf & 1 || size > ms || ro < 512 || ro >= size || rs > Math.min(size - 512, MAX_TEXT)) return undefined
  let raw: Buffer
  if (ro + rs <= size) raw = await readAt(vol, mo + ro, rs)
  else {
    const first = size - ro
    raw = Buffer.concat([await readAt(vol, mo + ro, first), await readAt(vol, mo + 512, rs - first)])
  }
  if (lvmCrc(raw) !== rc) return undefined
  return raw.toString('utf8').replace(/\0+$/, '')
}
