import type { FilesystemReader } from './volume.js'
import type { SignatureKind } from './signatures.js'
import { readExt } from './ext/ext4.js'
import { readSwap } from './swap/swap.js'
import { readNtfs } from './ntfs/ntfs.js'
import { readXfs } from './xfs/xfs.js'
import { readBtrfs } from './btrfs/btrfs.js'

/**
 * Which reader handles which signature. ext and swap are built in. NTFS is
 * written separately (src/trim/ntfs/ntfs.ts): once it exists, register it with
 *
 *   import { readNtfs } from './ntfs/ntfs.js'
 *   registerFilesystemReader('ntfs', readNtfs)
 *
 * (here, or by whoever wires the trim into the commands). Until then an NTFS
 * volume is skipped with the reason "NTFS: not supported yet".
 */
const READERS = new Map<SignatureKind, FilesystemReader>([
  ['ext', readExt],
  ['swap', readSwap],
  ['swap-hibernation', readSwap],
  ['swap-v0', readSwap],
  ['ntfs', readNtfs],
  ['xfs', readXfs],
  ['btrfs', readBtrfs],
])

export function registerFilesystemReader(kind: SignatureKind, reader: FilesystemReader): void {
  READERS.set(kind, reader)
}

export function unregisterFilesystemReader(kind: SignatureKind): void {
  READERS.delete(kind)
}

export function readerFor(kind: SignatureKind): FilesystemReader | undefined {
  return READERS.get(kind)
}

/** Why a recognised signature without a reader is left alone. */
export const UNSUPPORTED: Partial<Record<SignatureKind, string>> = {
  ntfs: 'NTFS: not supported yet',
  zfs: 'ZFS: never trimmed',
  vfat: 'vfat: not trimmed (phase 1)',
  exfat: 'exFAT: not trimmed',
  luks: 'LUKS container (encrypted): never trimmed',
  bitlocker: 'BitLocker volume (-FVE-FS-, encrypted): never trimmed',
  'md-raid': 'md RAID member: never trimmed',
  ldm: 'Windows dynamic disk (LDM): never trimmed',
  'storage-spaces': 'Windows Storage Spaces: never trimmed',
  bcache: 'bcache device: never trimmed',
  refs: 'ReFS: not trimmed',
  jfs: 'JFS: not trimmed',
  reiserfs: 'ReiserFS: not trimmed',
  ufs: 'UFS: not trimmed',
  hfs: 'HFS: not trimmed',
  hfsplus: 'HFS+: not trimmed',
  bcachefs: 'bcachefs: not trimmed',
  nilfs2: 'nilfs2: not trimmed',
  vdo: 'VDO volume (deduplicated, compressed): never trimmed',
  drbd: 'DRBD device (replicated): never trimmed',
  apfs: 'APFS: not trimmed',
  f2fs: 'F2FS: not trimmed',
}

/** Signatures that make a volume untouchable even next to another signature. */
export const REFUSING: SignatureKind[] = ['luks', 'md-raid', 'bitlocker', 'ldm', 'storage-spaces', 'zfs', 'bcache', 'vdo', 'drbd']
