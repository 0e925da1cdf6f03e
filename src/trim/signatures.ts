import type { VolumeReader } from './volume.js'

/**
 * Every on-disk signature the trim knows, found in one volume. Two or more
 * means ambiguity (left-overs of an earlier format, or a container) and the
 * volume is skipped; so the probe looks for everything, not just what we trim.
 */
export type SignatureKind =
  | 'lvm2-pv' | 'ntfs' | 'ext' | 'swap' | 'swap-hibernation' | 'swap-v0' | 'xfs' | 'btrfs' | 'zfs'
  | 'luks' | 'vfat' | 'exfat' | 'md-raid' | 'bitlocker' | 'ldm' | 'storage-spaces'

export const SWAP_PAGE_SIZES = [4096, 8192, 16384, 65536]
export const HIBERNATION_MAGICS = ['S1SUSPEND', 'S2SUSPEND', 'ULSUSPEND', 'LINHIB0001']

async function bytesAt(vol: VolumeReader, off: number, n: number): Promise<Buffer | undefined> {
  if (off < 0 || off + n > vol.size) return undefined
  const b = Buffer.alloc(n)
  await vol.read(b, off)
  return b
}

const ascii = (b: Buffer | undefined, s: number, e: number): string => (b ? b.toString('latin1', s, e) : '')

/** Signatures at the start of the volume (what a whole-disk probe may look at). */
export async function probeStart(vol: VolumeReader): Promise<SignatureKind[]> {
  const sigs: SignatureKind[] = []
  const head = await bytesAt(vol, 0, Math.min(vol.size, 8192))
  if (!head) return sigs
  for (let s = 0; s < 4; s++) {
    if (ascii(head, s * 512, s * 512 + 8) === 'LABELONE' && ascii(head, s * 512 + 24, s * 512 + 32) === 'LVM2 001') {
      sigs.push('lvm2-pv')
      break
    }
  }
  if (ascii(head, 3, 11) === 'NTFS    ') sigs.push('ntfs')
  if (ascii(head, 3, 11) === '-FVE-FS-') sigs.push('bitlocker')
  if (ascii(head, 3, 11) === 'EXFAT   ') sigs.push('exfat')
  if (head.length >= 1082 && head.readUInt16LE(1080) === 0xef53) sigs.push('ext')
  if (ascii(head, 0, 4) === 'XFSB') sigs.push('xfs')
  if (ascii(head, 0, 6) === 'LUKS\xba\xbe' || ascii(head, 0, 6) === 'SKUL\xba\xbe') sigs.push('luks')
  if (head.length >= 512 && head[510] === 0x55 && head[511] === 0xaa &&
      (ascii(head, 0x52, 0x57) === 'FAT32' || ascii(head, 0x36, 0x39) === 'FAT')) sigs.push('vfat')
  if (ascii(head, 0, 7) === 'SPACEDB' || ascii(head, 4096, 4103) === 'SPACEDB') sigs.push('storage-spaces')
  if (ascii(head, 3072, 3080) === 'PRIVHEAD') sigs.push('ldm')
  for (const ps of SWAP_PAGE_SIZES) {
    const m = ascii(await bytesAt(vol, ps - 10, 10), 0, 10)
    if (m === 'SWAPSPACE2') sigs.push('swap')
    else if (m === 'SWAP-SPACE') sigs.push('swap-v0')
    else if (HIBERNATION_MAGICS.some(h => m.startsWith(h))) sigs.push('swap-hibernation')
    else continue
    break
  }
  if (ascii(await bytesAt(vol, 0x10040, 8), 0, 8) === '_BHRfS_M') sigs.push('btrfs')
  if (await hasMdAt(vol, 0) || await hasMdAt(vol, 4096)) sigs.push('md-raid')
  if (await hasZfsLabel(vol, 0)) sigs.push('zfs')
  return sigs
}

/** Signatures anywhere: the start ones plus md superblocks (0.90, 1.0) and ZFS labels at the end. */
export async function probeVolume(vol: VolumeReader): Promise<SignatureKind[]> {
  const sigs = await probeStart(vol)
  const sectors = Math.floor(vol.size / 512)
  if (!sigs.includes('md-raid') && sectors > 136) {
    const v090 = (Math.floor(sectors / 128) * 128 - 128) * 512
    const v10 = (Math.floor((sectors - 16) / 8) * 8) * 512
    if (await hasMdAt(vol, v090) || await hasMdAt(vol, v10)) sigs.push('md-raid')
  }
  if (!sigs.includes('zfs') && vol.size >= 1 << 20) {
    const l2 = Math.floor(vol.size / (256 << 10)) * (256 << 10) - (512 << 10)
    if (await hasZfsLabel(vol, l2)) sigs.push('zfs')
  }
  return sigs
}

/** md superblock magic 0xA92B4EFC (little-endian on disk). */
async function hasMdAt(vol: VolumeReader, off: number): Promise<boolean> {
  const b = await bytesAt(vol, off, 4)
  return !!b && b.readUInt32LE(0) === 0xa92b4efc
}

/** A ZFS vdev label: uberblocks with magic 0x00BAB10C (either byte order) in the array at +128 KiB. */
async function hasZfsLabel(vol: VolumeReader, labelOff: number): Promise<boolean> {
  if (labelOff < 0) return false
  const arr = await bytesAt(vol, labelOff + (128 << 10), 128 << 10)
  if (!arr) return false
  for (let o = 0; o + 8 <= arr.length; o += 1024) {
    const le = arr.readBigUInt64LE(o)
    if (le === 0xbab10cn || arr.readBigUInt64BE(o) === 0xbab10cn) return true
  }
  return false
}
