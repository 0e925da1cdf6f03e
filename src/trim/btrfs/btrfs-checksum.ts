import { createHash } from 'node:crypto'
import type { XXHashAPI } from 'xxhash-wasm'
import { crc32cRaw } from '../bytes/crc32c.js'
import { loadHasher } from '../../util/hasher.js'
import { TrimSkip } from '../skip.js'
import { blake2b256 } from './btrfs-blake2b.js'

/**
 * The checksum a btrfs filesystem uses for its superblocks and tree blocks
 * (superblock csum_type): stored at byte 0 of the structure, over the bytes
 * from 0x20 to its end, the digest's first bytes as the kernel writes them.
 */
export interface BtrfsChecksum {
  name: string
  verify(b: Buffer, start: number, end: number): boolean
}

/** The verifier for a superblock csum_type: 0 crc32c, 1 xxhash64, 2 sha256, 3 BLAKE2b-256. */
export async function checksumFor(type: number): Promise<BtrfsChecksum> {
  switch (type) {
    case 0: // crc32c, stored little-endian (the conventional CRC-32C: seed ~0, final inversion)
      return { name: 'crc32c', verify: (b, s, e) => b.length >= 4 && ~crc32cRaw(0xffffffff, b, s, e) >>> 0 === b.readUInt32LE(0) }
    case 1: {
      // xxhash64 with seed 0, stored little-endian
      const x: XXHashAPI = await loadHasher()
      return { name: 'xxhash64', verify: (b, s, e) => b.length >= 8 && x.h64Raw(b.subarray(s, e), 0n) === b.readBigUInt64LE(0) }
    }
    case 2: // sha256, all 32 bytes
      return { name: 'sha256', verify: (b, s, e) => createHash('sha256').update(b.subarray(s, e)).digest().equals(b.subarray(0, 32)) }
    case 3: {
      // BLAKE2b with a 32-byte digest (not blake2b512 truncated: the length is in its initial state)
      const digest = Buffer.alloc(32)
      return { name: 'blake2b', verify: (b, s, e) => (blake2b256(b, s, e, digest), digest.equals(b.subarray(0, 32))) }
    }
    default:
      throw new TrimSkip(`unknown btrfs checksum type ${type}`)
  }
}
