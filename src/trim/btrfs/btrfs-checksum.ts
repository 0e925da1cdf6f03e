import { createHash } from 'node:crypto'
import type { XXHashAPI } from 'xxhash-wasm'
import { crc32cRaw } from '../bytes/crc32c.js'
import { loadHasher } from '../../util/hasher.js'
import { TrimSkip } from '../skip.js'

/**
 * The checksum a btrfs filesystem uses for its superblocks and tree blocks
 * (superblock csum_type): stored at byte 0 of the structure, over the bytes
 * from 0x20 to its end, the digest's first bytes as the kernel writes them.
 */
export interface BtrfsChecksum {
  name: string
  verify(b: Buffer, start: number, end: number): boolean
}

export const CSUM_TYPES = ['crc32c', 'xxhash64', 'sha256', 'blake2b'] as const

export async function checksumFor(type: number): Promise<BtrfsChecksum> {
  switch (type) {
    case 0: // crc32c, stored little-endian (the conventional CRC-32C: seed ~0, final inversion)
      return { name: 'crc32c', verify: (b, s, e) => b.length >= 4 && (~crc32cRaw(0xffffffff, b, s, e) >>> 0) === b.readUInt32LE(0) }
    case 1: { // xxhash64 with seed 0, stored little-endian
      const x: XXHashAPI = await loadHasher()
      return { name: 'xxhash64', verify: (b, s, e) => b.length >= 8 && x.h64Raw(b.subarray(s, e), 0n) === b.readBigUInt64LE(0) }
    }
    case 2: // sha256, all 32 bytes
      return { name: 'sha256', verify: (b, s, e) => createHash('sha256').update(b.subarray(s, e)).digest().equals(b.subarray(0, 32)) }
    case 3: // BLAKE2b with a 32-byte digest: a different function from blake2b512 truncated (the length is in its IV)
      throw new TrimSkip("btrfs with BLAKE2b-256 checksums: Node's crypto has no BLAKE2b-256, so tree blocks cannot be verified")
    default:
      throw new TrimSkip(`unknown btrfs checksum type ${type}`)
  }
}
