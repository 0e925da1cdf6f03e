import type { VolumeReader } from './volume.js'
import { magicAt, ProbeReader, sig, type Probe, type Signature, type SignatureKind } from './probe-reader.js'
import { FOREIGN_PROBES } from './foreign-probes.js'

export type { Signature, SignatureKind } from './probe-reader.js'

/** Partition tables: a volume holding one is a disk, whatever else it also seems to be. */
export const TABLE_KINDS: readonly SignatureKind[] = ['mbr', 'gpt']

export const SWAP_PAGE_SIZES = [4096, 8192, 16384, 65536]
export const HIBERNATION_MAGICS = ['S1SUSPEND', 'S2SUSPEND', 'ULSUSPEND', 'LINHIB0001']

// The md superblocks (linux include/uapi/linux/raid/md_p.h; mdadm super0.c, super1.c):
//   0.90: 4 KiB at the last 64 KiB-aligned block of the device minus 64 KiB;
//         u32 md_magic 0xA92B4EFC at +0, u32 major_version 0 at +4
//   1.x:  u32 magic at +0, u32 major_version 1 at +4, u64 super_offset (sectors) at +144;
//         1.0 at (sectors - 16) & ~7, 1.1 at sector 0, 1.2 at sector 8
const MD_MAGIC = 0xa92b4efc

/** The md superblock positions of a device of `size` bytes: [version, byte offset]. */
export function mdPositions(size: number): [string, number][] {
  const sectors = Math.floor(size / 512)
  const out: [string, number][] = [
    ['1.1', 0],
    ['1.2', 4096],
  ]
  if (sectors >= 256) out.push(['0.90', (Math.floor(sectors / 128) * 128 - 128) * 512])
  if (sectors >= 24) out.push(['1.0', Math.floor((sectors - 16) / 8) * 8 * 512])
  return out
}

const mdProbe: Probe = {
  kind: 'md-raid',
  async find(r) {
    for (const [version, off] of mdPositions(r.size)) {
      const b = await r.at(off, 256)
      if (!b || b.readUInt32LE(0) !== MD_MAGIC) continue
      const major = b.readUInt32LE(4)
      // a 1.x superblock names its own position: a copy at another offset is not this device's
      const ok = version === '0.90' ? major === 0 : major === 1 && b.readBigUInt64LE(144) === BigInt(off / 512)
      if (ok) return sig('md-raid', off, `md superblock ${version} at ${off}`)
    }
    return undefined
  },
}

/** A partition-table entry as 16 bytes: empty, or a partition inside the volume that does not cover sector 0. */
function entryPlausible(sec: Buffer, i: number, sectors: number): 'empty' | 'ok' | 'bad' {
  const o = 0x1be + 16 * i
  if (sec.subarray(o, o + 16).every(b => b === 0)) return 'empty'
  const status = sec[o]!
  const type = sec[o + 4]!
  const lba = sec.readUInt32LE(o + 8)
  const count = sec.readUInt32LE(o + 12)
  if ((status !== 0 && status !== 0x80) || type === 0 || lba < 1 || count < 1) return 'bad'
  // a protective 0xEE entry may claim more than the disk (0xFFFFFFFF)
  return type === 0xee || lba + count <= sectors ? 'ok' : 'bad'
}

const BOOT_SECTOR_FS = ['NTFS    ', 'EXFAT   ', '-FVE-FS-', 'MSDOS5.0', 'MSWIN4.1', 'mkfs.fat', 'FAT32   ']

/**
 * An MBR: 55 AA, sane status bytes, some entry; no 0xEE entry (then it is
 * GPT's protective MBR). Sector 0 of NTFS, FAT, exFAT and BitLocker is a boot
 * sector ending in 55 AA whose code overlaps the entries (libblkid's dos
 * probe ignores the table there); over such a boot sector only four entries
 * that are each empty or a real partition make a second reading.
 */
const mbrProbe: Probe = {
  kind: 'mbr',
  async find(r) {
    const sec = await r.at(0, 512)
    if (sec?.[510] !== 0x55 || sec[511] !== 0xaa) return undefined
    const sectors = Math.floor(r.size / 512)
    let some = false
    for (let i = 0; i < 4; i++) {
      const o = 0x1be + 16 * i
      if (sec[o + 4] === 0xee) return undefined
      if (sec[o + 4] !== 0 && sec[o] !== 0 && sec[o] !== 0x80) return undefined
      if (sec[o + 4] !== 0 && sec.readUInt32LE(o + 12) !== 0) some = true
    }
    if (!some) return undefined
    const bootSector = BOOT_SECTOR_FS.includes(sec.toString('latin1', 3, 11)) || sec.toString('latin1', 0x52, 0x57) === 'FAT32' || sec.toString('latin1', 0x36, 0x39) === 'FAT'
    if (bootSector) {
      const states = [0, 1, 2, 3].map(i => entryPlausible(sec, i, sectors))
      if (states.includes('bad') || !states.includes('ok')) return undefined
    }
    return sig('mbr', 0, 'an MBR')
  },
}

/** GPT: "EFI PART" at LBA 1 (512 or 4096-byte sectors), or a protective MBR (its header may be damaged: the backup is read). */
const gptProbe: Probe = {
  kind: 'gpt',
  async find(r) {
    for (const ss of [512, 4096]) if ((await r.ascii(ss, 8)) === 'EFI PART') return sig('gpt', ss, 'a GPT')
    const sec = await r.at(0, 512)
    if (sec?.[510] !== 0x55 || sec[511] !== 0xaa) return undefined
    for (let i = 0; i < 4; i++) if (sec[0x1be + 16 * i + 4] === 0xee) return sig('gpt', 0, 'a GPT protective MBR')
    return undefined
  },
}

/** ext2/3/4: magic 0xEF53 at 1024+0x38 (the reader judges the rest: an implausible one is skipped with its reason, never ignored). */
const extProbe: Probe = {
  kind: 'ext',
  async find(r) {
    const b = await r.at(1024, 1024)
    return b && b.readUInt16LE(0x38) === 0xef53 ? sig('ext', 1024, 'ext superblock at 1024') : undefined
  },
}

/** Swap: its magic in the last 10 bytes of the first page, for each page size Linux uses. */
const swapProbe: Probe = {
  kind: 'swap',
  async find(r) {
    for (const ps of SWAP_PAGE_SIZES) {
      const m = await r.ascii(ps - 10, 10)
      const kind: SignatureKind | undefined = m === 'SWAPSPACE2' ? 'swap' : m === 'SWAP-SPACE' ? 'swap-v0' : HIBERNATION_MAGICS.some(h => m.startsWith(h)) ? 'swap-hibernation' : undefined
      if (kind) return sig(kind, ps - 10, `swap signature at ${ps - 10}`)
    }
    return undefined
  },
}

/** LVM2 PV label: "LABELONE" ... "LVM2 001" in one of the first four sectors. */
const lvmProbe: Probe = {
  kind: 'lvm2-pv',
  async find(r) {
    for (let s = 0; s < 4; s++) {
      if ((await r.ascii(s * 512, 8)) === 'LABELONE' && (await r.ascii(s * 512 + 24, 8)) === 'LVM2 001') {
        return sig('lvm2-pv', s * 512, `LVM2 PV label in sector ${s}`)
      }
    }
    return undefined
  },
}

const vfatProbe: Probe = {
  kind: 'vfat',
  async find(r) {
    const b = await r.at(0, 512)
    if (b?.[510] !== 0x55 || b[511] !== 0xaa) return undefined
    return b.toString('latin1', 0x52, 0x57) === 'FAT32' || b.toString('latin1', 0x36, 0x39) === 'FAT' ? sig('vfat', 0, 'FAT boot sector') : undefined
  },
}

// LUKS1 and LUKS2 headers at 0 ("LUKS\xba\xbe"); LUKS2 keeps a second header
// ("SKUL\xba\xbe") at one of these offsets, which cryptsetup finds when the
// first is gone (libblkid luks.c scans the same list).
const LUKS2_SECONDARY = [0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000, 0x100000, 0x200000, 0x400000]
const luksProbe: Probe = {
  kind: 'luks',
  async find(r) {
    const m = await r.ascii(0, 6)
    if (m === 'LUKS\xba\xbe' || m === 'SKUL\xba\xbe') return sig('luks', 0, 'LUKS header')
    for (const off of LUKS2_SECONDARY) if ((await r.ascii(off, 6)) === 'SKUL\xba\xbe') return sig('luks', off, `LUKS2 second header at ${off}`)
    return undefined
  },
}

/** bcache: its 16-byte magic at 4096 + 24 (bcache-tools, linux drivers/md/bcache). */
const BCACHE_MAGIC = Buffer.from('c68573f64e1a45ca8265f57f48ba6d81', 'hex')
const bcacheProbe: Probe = {
  kind: 'bcache',
  async find(r) {
    const b = await r.at(4096 + 24, 16)
    return b?.equals(BCACHE_MAGIC) ? sig('bcache', 4096, 'bcache superblock at 4096') : undefined
  },
}

const storageSpacesProbe: Probe = {
  kind: 'storage-spaces',
  async find(r) {
    for (const off of [0, 4096]) if ((await r.ascii(off, 7)) === 'SPACEDB') return sig('storage-spaces', off, `Storage Spaces header at ${off}`)
    return undefined
  },
}

/**
 * A ZFS vdev label: uberblocks with magic 0x00BAB10C (either byte order) in
 * the array at +128 KiB. Four labels of 256 KiB: two at the start, two at the
 * end of the device rounded down to 256 KiB (libblkid zfs.c label_offset).
 */
const ZFS_LABEL = 256 << 10
const zfsProbe: Probe = {
  kind: 'zfs',
  async find(r) {
    const end = Math.floor(r.size / ZFS_LABEL) * ZFS_LABEL
    for (const label of [0, ZFS_LABEL, end - 2 * ZFS_LABEL, end - ZFS_LABEL]) {
      if (label < 0) continue
      const arr = await r.at(label + (128 << 10), 128 << 10)
      if (!arr) continue
      for (let o = 0; o + 8 <= arr.length; o += 1024) {
        if (arr.readBigUInt64LE(o) === 0xbab10cn || arr.readBigUInt64BE(o) === 0xbab10cn) return sig('zfs', label + (128 << 10) + o, `ZFS uberblock at ${label + (128 << 10) + o}`)
      }
    }
    return undefined
  },
}

/**
 * The signature scan: one probe per format, each at every offset its format
 * uses. A new format joins by adding its probe here (and a reader or a
 * refusal in readers.ts).
 */
export const PROBES: Probe[] = [
  gptProbe,
  mbrProbe,
  lvmProbe,
  magicAt('ntfs', 3, 'NTFS    ', 'NTFS boot sector'),
  magicAt('bitlocker', 3, '-FVE-FS-', 'BitLocker boot sector'),
  magicAt('exfat', 3, 'EXFAT   ', 'exFAT boot sector'),
  extProbe,
  magicAt('xfs', 0, 'XFSB', 'XFS superblock at 0'),
  luksProbe,
  vfatProbe,
  storageSpacesProbe,
  magicAt('ldm', 3072, 'PRIVHEAD', 'LDM private header at 3072'),
  swapProbe,
  magicAt('btrfs', 0x10040, '_BHRfS_M', 'btrfs superblock at 65536'),
  bcacheProbe,
  mdProbe,
  zfsProbe,
  ...FOREIGN_PROBES,
]

/** Every signature of the volume, in PROBES order. */
export async function findSignatures(vol: VolumeReader): Promise<Signature[]> {
  const r = new ProbeReader(vol)
  const out: Signature[] = []
  for (const p of PROBES) {
    const s = await p.find(r)
    if (s) out.push(s)
  }
  return out
}

/** The kinds of every signature of the volume. */
export async function probeVolume(vol: VolumeReader): Promise<SignatureKind[]> {
  return (await findSignatures(vol)).map(s => s.kind)
}
