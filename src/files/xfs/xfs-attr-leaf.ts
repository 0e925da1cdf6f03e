// Attribute leaf blocks and the dabtree above them, big-endian.
// Leaf (magic 0xFBEE v4 / 0x3BEE v5), after the blkinfo (xfs-da-blkinfo.ts):
//   v4: 0x0C count (u16)   0x0E usedbytes   0x10 firstused   0x12 holes   0x14 freemap[3]   entries at 0x20
//   v5: 0x38 count (u16)   0x3A usedbytes   0x3C firstused   0x3E holes   0x40 freemap[3]   entries at 0x50
//   entry (8 bytes): hashval (u32)   nameidx (u16: where its name is in the block)   flags (u8)   pad
//   local name:  valuelen (u16)   namelen (u8)   name   value
//   remote name: valueblk (u32: fork block of the value)   valuelen (u32)   namelen (u8)   name
// Node (magic 0xFEBE v4 / 0x3EBE v5): count (u16) and level (u16) at 0x0C (v4) / 0x38 (v5),
//   entries (hashval u32, before u32: a fork block) at 0x10 (v4) / 0x40 (v5).
// Remote value blocks (v5: 'XARM' header, 56 bytes; v4: the bytes alone):
//   0x00 magic   0x04 offset (in the value)   0x08 bytes   0x0C crc (LE)   0x10 uuid[16]   0x20 owner   0x28 blkno   0x30 lsn

import type { Xattr } from '../guest-fs.js'
import { xfsCrcOk } from '../../trim/xfs/xfs-bytes.js'
import { ATTR, XATTR_SIZE_MAX, shownXattr } from './xfs-attr-name.js'
import { daBlkinfo } from './xfs-da-blkinfo.js'
import { check, type Where } from './xfs-damage.js'
import type { ExtentMap } from './xfs-extent-map.js'
import type { XfsVolume } from './xfs-volume.js'

const LEAF_MAGIC = { v4: 0xfbee, v5: 0x3bee }
const NODE_MAGIC = { v4: 0xfebe, v5: 0x3ebe }
const RMT_MAGIC = 0x5841524d
/** XFS_DA_NODE_MAXDEPTH */
const MAX_DEPTH = 5

/** The attributes of a leaf or node attribute fork mapped by `map`. */
export async function leafXattrs(x: XfsVolume, ino: number, map: ExtentMap): Promise<Xattr[]> {
  const bs = x.sb.blockSize
  const v5 = x.sb.crc
  const leafMagic = v5 ? LEAF_MAGIC.v5 : LEAF_MAGIC.v4
  const nodeMagic = v5 ? NODE_MAGIC.v5 : NODE_MAGIC.v4
  const b = Buffer.alloc(bs)
  const readFb = async (fb: number, what: string): Promise<{ lin: number; w: Where }> => {
    const lin = map.map(fb)
    check(lin >= 0, x.where(ino, 0), `${what} (attribute fork block ${fb}) is a hole`)
    await x.read(b, lin * bs)
    return { lin, w: x.where(ino, lin * bs) }
  }
  // down the leftmost path to the first leaf
  let fb = 0
  for (let depth = 0; ; depth++) {
    const { lin, w } = await readFb(fb, 'attribute block')
    const info = daBlkinfo(x, ino, b, lin, `attribute block ${fb}`, w)
    if (info.magic === leafMagic) break
    check(info.magic === nodeMagic, w, `attribute block ${fb}: bad magic 0x${info.magic.toString(16)}`)
    check(depth < MAX_DEPTH, w, `attribute node tree deeper than ${MAX_DEPTH}`)
    const count = b.readUInt16BE(v5 ? 0x38 : 0x0c)
    const ents = v5 ? 0x40 : 0x10
    check(count >= 1 && ents + count * 8 <= bs, w, `attribute node block ${fb} has ${count} entries`)
    fb = b.readUInt32BE(ents + 4)
  }
  const out: Xattr[] = []
  const seen = new Set<number>()
  let back = 0
  for (;;) {
    check(!seen.has(fb), x.where(ino, 0), `attribute leaf ${fb} is reached twice (a loop)`)
    seen.add(fb)
    const { lin, w } = await readFb(fb, 'attribute leaf')
    const info = daBlkinfo(x, ino, b, lin, `attribute leaf ${fb}`, w)
    check(info.magic === leafMagic, w, `attribute leaf ${fb}: bad magic 0x${info.magic.toString(16)}`)
    check(info.back === back, w, `attribute leaf ${fb}: back pointer ${info.back}, expected ${back}`)
    const count = b.readUInt16BE(v5 ? 0x38 : 0x0c)
    const ents = v5 ? 0x50 : 0x20
    check(ents + count * 8 <= bs, w, `attribute leaf ${fb}: ${count} entries do not fit the block`)
    // the remote values are read after the block is done with (they reuse nothing, but b is overwritten by readFb)
    const remotes: { flags: number; name: Buffer; blk: number; len: number }[] = []
    for (let i = 0; i < count; i++) {
      const e = ents + i * 8
      const idx = b.readUInt16BE(e + 4)
      const flags = b[e + 6]!
      const ew = w
      if (flags & ATTR.LOCAL) {
        check(idx + 3 <= bs, ew, `attribute leaf ${fb} entry ${i}: name at ${idx} outside the block`)
        const vlen = b.readUInt16BE(idx)
        const nlen = b[idx + 2]!
        check(idx + 3 + nlen + vlen <= bs, ew, `attribute leaf ${fb} entry ${i}: ${nlen}-byte name and ${vlen}-byte value run past the block`)
        out.push(...shownXattr(flags, b.subarray(idx + 3, idx + 3 + nlen), Buffer.from(b.subarray(idx + 3 + nlen, idx + 3 + nlen + vlen)), ew))
      } else {
        check(idx + 9 <= bs, ew, `attribute leaf ${fb} entry ${i}: name at ${idx} outside the block`)
        const nlen = b[idx + 8]!
        check(idx + 9 + nlen <= bs, ew, `attribute leaf ${fb} entry ${i}: ${nlen}-byte name runs past the block`)
        const len = b.readUInt32BE(idx + 4)
        check(len <= XATTR_SIZE_MAX, ew, `attribute leaf ${fb} entry ${i}: value of ${len} bytes (at most ${XATTR_SIZE_MAX})`)
        remotes.push({ flags, name: Buffer.from(b.subarray(idx + 9, idx + 9 + nlen)), blk: b.readUInt32BE(idx), len })
      }
    }
    const forw = info.forw
    for (const r of remotes) {
      if (r.flags & (ATTR.INCOMPLETE | ATTR.PARENT)) continue
      out.push(...shownXattr(r.flags, r.name, await remoteValue(x, ino, map, r.blk, r.len), w))
    }
    if (forw === 0) return out
    back = fb
    fb = forw
  }
}

/** A remote value of `len` bytes starting at fork block `blk`. */
async function remoteValue(x: XfsVolume, ino: number, map: ExtentMap, blk: number, len: number): Promise<Buffer> {
  const bs = x.sb.blockSize
  const hdr = x.sb.crc ? 56 : 0
  const out = Buffer.alloc(len)
  const b = Buffer.alloc(bs)
  let done = 0
  for (let fb = blk; done < len; fb++) {
    const lin = map.map(fb)
    check(lin >= 0, x.where(ino, 0), `remote attribute value block ${fb} is a hole`)
    const w = x.where(ino, lin * bs)
    await x.read(b, lin * bs)
    const want = Math.min(len - done, bs - hdr)
    if (x.sb.crc) {
      check(b.readUInt32BE(0) === RMT_MAGIC, w, `remote attribute value block ${fb}: bad magic 0x${b.readUInt32BE(0).toString(16)}`)
      check(xfsCrcOk(b, 0, bs, 12), w, `remote attribute value block ${fb}: CRC mismatch`)
      check(b.readUInt32BE(4) === done && b.readUInt32BE(8) === want, w, `remote attribute value block ${fb} holds bytes ${b.readUInt32BE(4)}+${b.readUInt32BE(8)}, expected ${done}+${want}`)
      check(b.subarray(0x10, 0x20).equals(x.sb.metaUuid), w, `remote attribute value block ${fb} belongs to another filesystem (UUID)`)
      check(Number(b.readBigUInt64BE(0x20)) === ino, w, `remote attribute value block ${fb} is owned by inode ${b.readBigUInt64BE(0x20)}`)
      check(Number(b.readBigUInt64BE(0x28)) === x.daddr(lin), w, `remote attribute value block ${fb} records another address (misdirected write)`)
    }
    b.copy(out, done, hdr, hdr + want)
    done += want
  }
  return out
}
