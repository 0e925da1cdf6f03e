import { crc32 } from 'node:zlib'

/** CRC-32 (IEEE, zlib-compatible): GPT headers and entry arrays. */
export function crc32Ieee(data: Uint8Array): number {
  return crc32(data) >>> 0
}

/**
 * LVM2's label and metadata checksum: the reflected IEEE CRC-32 update started
 * at 0xF597A6CF with no final inversion. zlib's crc32(data, prev) inverts on
 * the way in and out, hence the two complements.
 */
export function lvmCrc(data: Uint8Array): number {
  return ~crc32(data, ~0xf597a6cf >>> 0) >>> 0
}
