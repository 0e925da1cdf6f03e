import { crc32 } from 'node:zlib'

/** CRC-32 (IEEE, zlib-compatible): GPT headers and entry arrays. */
export function crc32Ieee(data: Uint8Array): number {
  return crc32(data) >>> 0
}

/**
 * The reflected IEEE CRC-32 update started at `seed` with no inversion on the
 * way in or out (the kernel's crc32_le): zlib's crc32(data, prev) inverts on
 * the way in and out, hence the two complements.
 */
export function crc32Seeded(seed: number, data: Uint8Array): number {
  return ~crc32(data, ~seed >>> 0) >>> 0
}

/** LVM2's label and metadata checksum: crc32Seeded from 0xF597A6CF. */
export function lvmCrc(data: Uint8Array): number {
  return crc32Seeded(0xf597a6cf, data)
}
