// Filesystems and block layers vma-opt never reads, probed at the offsets
// their formats use (as libblkid finds them) for one reason: a disk formatted
// with one of them over an old ext4, XFS or btrfs may still carry the old
// superblock, which alone would read as a filesystem full of free space. A
// volume where one of these is found next to anything else has two readings
// and is left untouched; found alone, it is "not trimmed" with its name.
//
// Each magic is checked with what makes it the format's own where the magic
// is short (a field that must be a power of two, a checksum), so that a
// plain ext4 or XFS volume is not taken for one of these by chance.

import { crc32Seeded } from './bytes/crc32.js'
import { magicAt, sig, type Probe, type ProbeReader } from './probe-reader.js'

const isPow2 = (n: number) => n > 0 && (n & (n - 1)) === 0

/** ReFS: "\0\0\0ReFS\0" at 0 (its boot sector's OEM field, after a 3-byte jump). */
const refsProbe = magicAt('refs', 0, '\0\0\0ReFS\0', 'ReFS boot sector')

// JFS: the aggregate superblock at 32 KiB:
//   +0 "JFS1", +16 u32 bsize, +20 u16 l2bsize, +22 u16 l2bfactor, +24 u32 pbsize, +28 u16 l2pbsize (LE)
const JFS_SUPER = 32 << 10
const jfsProbe: Probe = {
  kind: 'jfs',
  async find(r) {
    const b = await r.at(JFS_SUPER, 32)
    if (b?.toString('latin1', 0, 4) !== 'JFS1') return undefined
    const bsize = b.readUInt32LE(16)
    const l2b = b.readUInt16LE(20)
    const pbsize = b.readUInt32LE(24)
    const l2pb = b.readUInt16LE(28)
    if (l2b > 31 || l2pb > 31 || bsize !== 2 ** l2b || pbsize !== 2 ** l2pb || b.readUInt16LE(22) !== l2b - l2pb) return undefined
    return sig('jfs', JFS_SUPER, `JFS superblock at ${JFS_SUPER}`)
  },
}

// ReiserFS: the superblock at 64 KiB (3.6, and 3.5 since 2.4) or 8 KiB (old
// 3.5), its magic at +0x34 ("ReIsErFs", "ReIsEr2Fs", "ReIsEr3Fs" with a
// journal); old 3.5 at 8 KiB + 20; reiser4 "ReIsEr4" at 64 KiB.
const REISER_PLACES: [number, string[]][] = [
  [(64 << 10) + 0x34, ['ReIsErFs', 'ReIsEr2Fs', 'ReIsEr3Fs']],
  [(8 << 10) + 0x34, ['ReIsErFs']],
  [(8 << 10) + 20, ['ReIsErFs']],
  [64 << 10, ['ReIsEr4']],
]
const reiserProbe: Probe = {
  kind: 'reiserfs',
  async find(r) {
    for (const [off, magics] of REISER_PLACES) {
      const s = await r.ascii(off, 9)
      const m = magics.find(x => s.startsWith(x))
      if (m) return sig('reiserfs', off, `${m === 'ReIsEr4' ? 'reiser4' : 'ReiserFS'} superblock at ${off & ~1023}`)
    }
    return undefined
  },
}

// UFS and UFS2 (BSD's FFS): struct fs at 0, 8, 64 or 256 KiB, u32 fs_magic at
// +1372 in either byte order (UFS1, UFS2 and the variants libblkid accepts).
const UFS_MAGICS = [0x00011954, 0x19540119, 0x00195612, 0x00095014, 0x00612195, 0x05231994]
const ufsProbe: Probe = {
  kind: 'ufs',
  async find(r) {
    for (const kb of [0, 8, 64, 256]) {
      const b = await r.at(kb * 1024 + 1372, 4)
      if (!b) continue
      const m = UFS_MAGICS.find(x => x === b.readUInt32LE(0) || x === b.readUInt32BE(0))
      if (m !== undefined) return sig('ufs', kb * 1024, `${m === 0x19540119 ? 'UFS2' : 'UFS'} superblock at ${kb * 1024}`)
    }
    return undefined
  },
}

// HFS+ and HFSX: the volume header at 1024 (big-endian): +0 "H+" or "HX",
// +2 u16 version 4 or 5, +40 u32 blockSize (a power of two, at least 512).
// Classic HFS (also the wrapper of an embedded HFS+): "BD" at 1024, +20 u32
// drAlBlkSiz a non-zero multiple of 512.
const hfsProbe: Probe = {
  kind: 'hfsplus',
  async find(r) {
    const b = await r.at(1024, 64)
    if (!b) return undefined
    const m = b.toString('latin1', 0, 2)
    if ((m === 'H+' || m === 'HX') && b.readUInt16BE(2) === (m === 'H+' ? 4 : 5) && b.readUInt32BE(40) >= 512 && isPow2(b.readUInt32BE(40))) {
      return sig('hfsplus', 1024, `${m === 'H+' ? 'HFS+' : 'HFSX'} volume header at 1024`)
    }
    const al = b.readUInt32BE(20)
    if (m === 'BD' && al > 0 && al % 512 === 0) return sig('hfs', 1024, 'HFS master directory block at 1024')
    return undefined
  },
}

// bcachefs: its own 16-byte magic at +24 of the superblock, which sits at
// 4 KiB, with copies at 2 MiB and 1 MiB before the end (libblkid bcache.c;
// an early bcachefs used bcache's magic, which the bcache probe finds).
const BCACHEFS_MAGIC = Buffer.from('c68573f666ce90a9d96a60cf803df7ef', 'hex')
const bcachefsProbe: Probe = {
  kind: 'bcachefs',
  async find(r) {
    for (const off of [4096, 2 << 20, r.size - (1 << 20)]) {
      const b = off >= 0 ? await r.at(off + 24, 16) : undefined
      if (b?.equals(BCACHEFS_MAGIC)) return sig('bcachefs', off, `bcachefs superblock at ${off}`)
    }
    return undefined
  },
}

// nilfs2: superblocks at 1024 and at the last 4 KiB-aligned sector group
// ((sectors - 8) * 512). Fields (LE): +6 u16 magic 0x3434, +8 u16 bytes
// (the checksummed length), +12 u32 crc_seed, +16 u32 sum: CRC-32 seeded with
// crc_seed over `bytes` bytes with the sum read as zero. A two-byte magic
// needs its checksum: 0x3434 at 1030 is also an ext4 of 3.3 TB's block count.
async function nilfsAt(r: ProbeReader, off: number): Promise<boolean> {
  const b = await r.at(off, 1024)
  if (b?.readUInt16LE(6) !== 0x3434) return false
  const bytes = b.readUInt16LE(8)
  if (bytes < 20 || bytes > 1024) return false
  const copy = Buffer.from(b.subarray(0, bytes))
  copy.writeUInt32LE(0, 16)
  return crc32Seeded(b.readUInt32LE(12), copy) === b.readUInt32LE(16)
}
const nilfsProbe: Probe = {
  kind: 'nilfs2',
  async find(r) {
    const backup = (Math.floor(r.size / 512) - 8) * 512
    for (const off of [1024, backup]) if (off >= 1024 && (await nilfsAt(r, off))) return sig('nilfs2', off, `nilfs2 superblock at ${off}`)
    return undefined
  },
}

/** VDO (dm-vdo, LVM's vdo volumes): "dmvdo001" at 0. */
const vdoProbe = magicAt('vdo', 0, 'dmvdo001', 'VDO geometry block at 0')

// DRBD internal metadata: the last 4 KiB of the device; big-endian u32 magic
// at +60 (0x8374026B v08, 0x8374026C v08 unclean, 0x8374026D v09) and u32
// bm_bytes_per_bit 4096 at +80. The data before it is the replicated device's.
const DRBD_MAGICS = [0x8374026b, 0x8374026c, 0x8374026d]
const drbdProbe: Probe = {
  kind: 'drbd',
  async find(r) {
    for (const off of new Set([r.size - 4096, Math.floor(r.size / 4096) * 4096 - 4096])) {
      const b = off >= 0 ? await r.at(off, 84) : undefined
      if (b && DRBD_MAGICS.includes(b.readUInt32BE(60)) && b.readUInt32BE(80) === 4096) return sig('drbd', off, `DRBD metadata at ${off}`)
    }
    return undefined
  },
}

/** APFS: the container superblock at 0, "NXSB" after its 32-byte object header. */
const apfsProbe = magicAt('apfs', 32, 'NXSB', 'APFS container superblock at 0')

// F2FS: superblocks at 1024 and 1024 + 4096, u32 magic 0xF2F52010 (LE) at +0.
const f2fsProbe: Probe = {
  kind: 'f2fs',
  async find(r) {
    for (const off of [1024, 1024 + 4096]) {
      const b = await r.at(off, 4)
      if (b?.readUInt32LE(0) === 0xf2f52010) return sig('f2fs', off, `F2FS superblock at ${off}`)
    }
    return undefined
  },
}

export const FOREIGN_PROBES: Probe[] = [refsProbe, jfsProbe, reiserProbe, ufsProbe, hfsProbe, bcachefsProbe, nilfsProbe, vdoProbe, drbdProbe, apfsProbe, f2fsProbe]
