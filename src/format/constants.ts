// Sizes and magic numbers of the VMA format (spec/vma-format.md, "Constants").

export const BLOCK_SIZE = 4096
export const CLUSTER_SIZE = 65536
export const BLOCKS_PER_CLUSTER = 16
/** Size of the fixed part of the archive header, before the blob buffer. */
export const HEADER_FIXED_SIZE = 12288
export const EXTENT_HEADER_SIZE = 512
/** Blockinfo slots in one extent header: 40 + 59 * 8 = 512. */
export const SLOTS_PER_EXTENT = 59
export const MAX_EXTENT_SIZE = EXTENT_HEADER_SIZE + SLOTS_PER_EXTENT * CLUSTER_SIZE
export const CONFIG_SLOTS = 256
export const DEVICE_SLOTS = 256
/** Highest device id any Proxmox tool handles (255 parses but is never used). */
export const MAX_DEV_ID = 254
export const VMA_VERSION = 1
/**
 * The version field of a vma-opt delta (spec/delta-format.md): "DLT2" in a
 * hex dump, the format with a check sector after every extent header.
 * Proxmox's reader accepts only version 1, so it refuses a delta before
 * reading anything else.
 */
export const DELTA_VERSION = 0x444c5432
/** The first delta format ("DLT1"): no check sectors; still read. */
export const DELTA_VERSION_1 = 0x444c5431
/**
 * In a DLT2 delta, the 512 bytes after each extent header: the xxh64 of
 * each blockinfo slot's stored bytes (spec/delta-format.md, "Check sector").
 */
export const CHECK_SECTOR_SIZE = 512

/**
 * Largest header we accept. Proxmox's writer builds the header in an 8 x 64 KiB
 * buffer, so no archive it writes is larger; the Proxmox reader has no bound at
 * all, and we refuse to allocate an attacker-chosen size.
 */
export const MAX_HEADER_SIZE = 8 * 65536

export const VMA_MAGIC = Buffer.from([0x56, 0x4d, 0x41, 0x00]) // "VMA\0"
export const EXTENT_MAGIC = Buffer.from([0x56, 0x4d, 0x41, 0x45]) // "VMAE"

/** The uuid of the optimized form (the same constant vma-tool uses). */
export const OPTIMIZED_UUID = '12345678-aabb-ccdd-eeff-aabbccddeeff'

export const ZERO_BLOCK: Buffer = Buffer.alloc(BLOCK_SIZE)
export const ZERO_CLUSTER: Buffer = Buffer.alloc(CLUSTER_SIZE)
