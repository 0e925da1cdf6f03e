import { u16, u32, u64, u8 } from '../bytes/le.js'
import { need, TrimSkip } from '../skip.js'
import type { BtrfsChecksum } from './btrfs-checksum.js'
import { type Chunk, chunkItemSize, parseChunk } from './btrfs-chunk.js'
import { KEY, KEY_SIZE, parseKey, keyNumber } from './btrfs-key.js'
import { MAX_LEVEL } from './btrfs-header.js'

// btrfs_super_block: 4096 bytes at device byte 64 KiB (copies at 64 MiB and
// 256 GiB), little-endian.
//   0x000 csum[32]           0x020 fsid[16]            0x030 bytenr u64
//   0x038 flags u64          0x040 magic "_BHRfS_M"    0x048 generation u64
//   0x050 root u64           0x058 chunk_root u64      0x060 log_root u64
//   0x070 total_bytes u64    0x078 bytes_used u64      0x088 num_devices u64
//   0x090 sectorsize u32     0x094 nodesize u32        0x0A0 sys_chunk_array_size u32
//   0x0A4 chunk_root_generation u64                    0x0AC compat_flags u64
//   0x0B4 compat_ro_flags u64                          0x0BC incompat_flags u64
//   0x0C4 csum_type u16      0x0C6 root_level u8       0x0C7 chunk_root_level u8
//   0x0C8 log_root_level u8  0x0C9 dev_item (98 bytes, below)
//   0x12B label[256]         0x23B metadata_uuid[16]   0x32B sys_chunk_array[2048]
// dev_item: 0x00 devid u64, 0x08 total_bytes u64, 0x10 bytes_used u64, 0x42 uuid[16], 0x52 fsid[16]

export const SUPER_OFFSET = 0x10000
export const SUPER_SIZE = 0x1000
export const MAGIC = '_BHRfS_M'
/** Device bytes of the superblock copies (btrfs_sb_offset: 64 KiB, then 16 KiB << 12*i). */
export const SUPER_MIRRORS = [0x10000, 64 * 2 ** 20, 256 * 2 ** 30]
/** The kernel keeps BTRFS_STRIPE_LEN (64 KiB) around each copy out of block groups. */
export const SUPER_STRIPE = 0x10000
/** mkfs.btrfs and the kernel never allocate the first MiB of a device. */
export const RESERVED_START = 1 << 20

export const SUPER_FLAG = { WRITTEN: 1n, RELOC: 2n, ERROR: 4n, SEEDING: 1n << 32n, METADUMP: 1n << 33n, METADUMP_V2: 1n << 34n, CHANGING_FSID: 1n << 35n, CHANGING_FSID_V2: 1n << 36n }

export const INCOMPAT = {
  MIXED_BACKREF: 1n << 0n,
  DEFAULT_SUBVOL: 1n << 1n,
  MIXED_GROUPS: 1n << 2n,
  COMPRESS_LZO: 1n << 3n,
  COMPRESS_ZSTD: 1n << 4n,
  BIG_METADATA: 1n << 5n,
  EXTENDED_IREF: 1n << 6n,
  RAID56: 1n << 7n,
  SKINNY_METADATA: 1n << 8n,
  NO_HOLES: 1n << 9n,
  METADATA_UUID: 1n << 10n,
  RAID1C34: 1n << 11n,
  ZONED: 1n << 12n,
  EXTENT_TREE_V2: 1n << 13n,
  RAID_STRIPE_TREE: 1n << 14n,
  SIMPLE_QUOTA: 1n << 16n,
}
/** Incompat features that do not change where extents are recorded (the others are refused by name or as unknown). */
const INCOMPAT_OK =
  INCOMPAT.MIXED_BACKREF |
  INCOMPAT.DEFAULT_SUBVOL |
  INCOMPAT.MIXED_GROUPS |
  INCOMPAT.COMPRESS_LZO |
  INCOMPAT.COMPRESS_ZSTD |
  INCOMPAT.BIG_METADATA |
  INCOMPAT.EXTENDED_IREF |
  INCOMPAT.SKINNY_METADATA |
  INCOMPAT.NO_HOLES |
  INCOMPAT.METADATA_UUID
const INCOMPAT_REFUSED: [bigint, string][] = [
  [INCOMPAT.RAID56, 'RAID5/6 profiles'],
  [INCOMPAT.RAID1C34, 'RAID1C3/4 profiles'],
  [INCOMPAT.ZONED, 'zoned mode'],
  [INCOMPAT.EXTENT_TREE_V2, 'extent tree v2'],
  [INCOMPAT.RAID_STRIPE_TREE, 'the raid stripe tree'],
  [INCOMPAT.SIMPLE_QUOTA, 'simple quotas'],
]
export const COMPAT_RO = { FREE_SPACE_TREE: 1n, FREE_SPACE_TREE_VALID: 2n, VERITY: 4n, BLOCK_GROUP_TREE: 8n }
const COMPAT_RO_OK = COMPAT_RO.FREE_SPACE_TREE | COMPAT_RO.FREE_SPACE_TREE_VALID | COMPAT_RO.VERITY | COMPAT_RO.BLOCK_GROUP_TREE

export interface BtrfsSuper {
  fsid: Buffer
  /** What tree block headers carry: metadata_uuid with METADATA_UUID, else fsid. */
  metadataFsid: Buffer
  generation: number
  root: number
  rootLevel: number
  chunkRoot: number
  chunkRootLevel: number
  chunkRootGeneration: number
  logRoot: number
  totalBytes: number
  bytesUsed: number
  numDevices: number
  sectorSize: number
  nodeSize: number
  csumType: number
  compatRo: bigint
  incompat: bigint
  label: string
  dev: { devid: number; totalBytes: number; bytesUsed: number; uuid: Buffer; fsid: Buffer }
  /** The bootstrap chunks (SYSTEM) of sys_chunk_array, in order. */
  sysChunks: Chunk[]
}

const hex = (v: bigint): string => '0x' + v.toString(16)

/** The magic at device byte 64 KiB + 0x40 (what the signature probe looks for). */
export const hasBtrfsMagic = (raw: Buffer): boolean => raw.length >= 0x48 && raw.toString('latin1', 0x40, 0x48) === MAGIC

/** The label of an unvalidated superblock, for naming a skipped volume. */
export const rawLabel = (raw: Buffer): string => raw.toString('utf8', 0x12b, 0x22b).replace(/\0.*$/s, '')

/**
 * Parses the primary superblock (`raw` = the 4096 bytes at 64 KiB) and checks
 * everything the trim relies on; throws TrimSkip otherwise. `csum` is the
 * checksum its csum_type names (checksumFor(raw csum_type)).
 */
export function parseBtrfsSuper(raw: Buffer, volumeSize: number, csum: BtrfsChecksum): BtrfsSuper {
  need(hasBtrfsMagic(raw) && raw.length === SUPER_SIZE, 'no btrfs magic')
  need(csum.verify(raw, 0x20, SUPER_SIZE), `superblock ${csum.name} checksum mismatch`)
  need(u64(raw, 0x30) === SUPER_OFFSET, `superblock says it is at ${u64(raw, 0x30)}, not ${SUPER_OFFSET}`)
  const flags = raw.readBigUInt64LE(0x38)
  if (flags & SUPER_FLAG.SEEDING) throw new TrimSkip('seeding filesystem (other filesystems are built on it)')
  if (flags & SUPER_FLAG.ERROR) throw new TrimSkip('the superblock records an error state')
  if (flags & (SUPER_FLAG.METADUMP | SUPER_FLAG.METADUMP_V2)) throw new TrimSkip('a metadata dump image (btrfs-image), not a filesystem')
  if (flags & (SUPER_FLAG.CHANGING_FSID | SUPER_FLAG.CHANGING_FSID_V2)) throw new TrimSkip('an fsid change was interrupted')
  need((flags & ~(SUPER_FLAG.WRITTEN | SUPER_FLAG.RELOC)) === 0n, `unknown superblock flags ${hex(flags)}`)
  const incompat = raw.readBigUInt64LE(0xbc)
  for (const [bit, what] of INCOMPAT_REFUSED) if (incompat & bit) throw new TrimSkip(`uses ${what} (incompat flag ${hex(bit)})`)
  if (incompat & ~INCOMPAT_OK) throw new TrimSkip(`unknown incompat flag ${hex(incompat & ~INCOMPAT_OK)}`)
  const compatRo = raw.readBigUInt64LE(0xb4)
  if (compatRo & ~COMPAT_RO_OK) throw new TrimSkip(`unknown compat_ro flag ${hex(compatRo & ~COMPAT_RO_OK)}`)
  const compat = raw.readBigUInt64LE(0xac)
  need(compat === 0n, `unknown compat flag ${hex(compat)}`)
  const numDevices = u64(raw, 0x88)
  need(numDevices === 1, `multi-device filesystem (${numDevices} devices; the others belong to another disk or VM)`)
  const sectorSize = u32(raw, 0x90)
  const nodeSize = u32(raw, 0x94)
  const pow2 = (v: number): boolean => v > 0 && (v & (v - 1)) === 0
  need(pow2(sectorSize) && sectorSize >= 4096 && sectorSize <= 65536, `sector size ${sectorSize} invalid`)
  need(pow2(nodeSize) && nodeSize >= sectorSize && nodeSize <= 65536, `node size ${nodeSize} invalid`)
  const generation = u64(raw, 0x48)
  const chunkRootGeneration = u64(raw, 0xa4)
  need(chunkRootGeneration <= generation, 'chunk root newer than the superblock')
  const rootLevel = u8(raw, 0xc6)
  const chunkRootLevel = u8(raw, 0xc7)
  need(rootLevel < MAX_LEVEL && chunkRootLevel < MAX_LEVEL, 'tree root level out of range')
  const totalBytes = u64(raw, 0x70)
  const d = 0xc9
  const dev = {
    devid: u64(raw, d),
    totalBytes: u64(raw, d + 8),
    bytesUsed: u64(raw, d + 0x10),
    uuid: Buffer.from(raw.subarray(d + 0x42, d + 0x52)),
    fsid: Buffer.from(raw.subarray(d + 0x52, d + 0x62)),
  }
  const fsid = Buffer.from(raw.subarray(0x20, 0x30))
  need(dev.fsid.equals(fsid), 'the device item belongs to another filesystem')
  need(dev.totalBytes === totalBytes, `device size ${dev.totalBytes} differs from the filesystem size ${totalBytes} on a single-device filesystem`)
  need(totalBytes <= volumeSize, `filesystem (${totalBytes} bytes) larger than its container (${volumeSize} bytes)`)
  need(totalBytes > RESERVED_START, 'filesystem smaller than its reserved first MiB')
  const metadataFsid = incompat & INCOMPAT.METADATA_UUID ? Buffer.from(raw.subarray(0x23b, 0x24b)) : fsid
  const sysChunks = parseSysChunkArray(raw, { sectorSize, devid: dev.devid, deviceBytes: totalBytes })
  return {
    fsid,
    metadataFsid,
    generation,
    root: u64(raw, 0x50),
    rootLevel,
    chunkRoot: u64(raw, 0x58),
    chunkRootLevel,
    chunkRootGeneration,
    logRoot: u64(raw, 0x60),
    totalBytes,
    bytesUsed: u64(raw, 0x78),
    numDevices,
    sectorSize,
    nodeSize,
    csumType: u16(raw, 0xc4),
    compatRo,
    incompat,
    label: rawLabel(raw),
    dev,
    sysChunks,
  }
}

/** sys_chunk_array: (disk key, chunk item) pairs, the SYSTEM chunks needed to read the chunk tree. */
function parseSysChunkArray(raw: Buffer, o: { sectorSize: number; devid: number; deviceBytes: number }): Chunk[] {
  const size = u32(raw, 0xa0)
  need(size <= 2048, `sys_chunk_array_size ${size} past its 2048 bytes`)
  const arr = raw.subarray(0x32b, 0x32b + size)
  const out: Chunk[] = []
  for (let off = 0; off < size; ) {
    const key = parseKey(arr, off)
    need(key.type === KEY.CHUNK_ITEM, `sys_chunk_array entry at ${off} is not a chunk item`)
    off += KEY_SIZE
    need(off + 0x30 <= size && off + chunkItemSize(arr, off) <= size, 'sys_chunk_array entry truncated')
    const c = parseChunk(arr, off, keyNumber(key.offset, 'chunk start'), o)
    need(c.type === 0x2 || c.type === (0x2 | 0x20), `sys_chunk_array holds a non-SYSTEM chunk at ${c.logical}`)
    need(out.length === 0 || out[out.length - 1]!.logical + out[out.length - 1]!.length <= c.logical, 'sys_chunk_array not in order')
    out.push(c)
    off += chunkItemSize(arr, off)
  }
  need(out.length > 0, 'empty sys_chunk_array')
  return out
}

/**
 * Logical ranges of a chunk the kernel keeps out of its block group because a
 * superblock copy lies there (exclude_super_stripes, btrfs_rmap_block): the
 * 64 KiB from each copy, on whichever stripe holds it, and anything below
 * logical 64 KiB. No extent is ever allocated there, and the free-space tree
 * does not list them as free.
 */
export function superExcluded(c: Chunk): [number, number][] {
  const out: [number, number][] = []
  const end = c.logical + c.length
  if (c.logical < SUPER_OFFSET) out.push([c.logical, Math.min(end, SUPER_OFFSET)])
  for (const m of SUPER_MIRRORS) {
    for (const s of c.stripes) {
      if (m < s.offset || m >= s.offset + c.length) continue
      const l = c.logical + (m - s.offset)
      if (!out.some(([a]) => a === l)) out.push([l, Math.min(end, l + SUPER_STRIPE)])
    }
  }
  return out.sort((a, b) => a[0] - b[0])
}

/** Bytes of sorted superExcluded ranges (the kernel's bytes_super, overlaps counted once). */
export function superExcludedBytes(ranges: [number, number][]): number {
  let n = 0
  let reach = -1
  for (const [a, b] of ranges) {
    const from = Math.max(a, reach)
    if (b > from) n += b - from
    reach = Math.max(reach, b)
  }
  return n
}
