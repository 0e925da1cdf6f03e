import { u32, u64, u8 } from '../bytes/le.js'
import { need } from '../skip.js'
import type { BtrfsChecksum } from './btrfs-checksum.js'

// btrfs_header: the first 101 bytes of every tree block (node or leaf).
//   0x00 csum[32]          checksum of bytes 0x20..nodesize
//   0x20 fsid[16]          the filesystem's (metadata) uuid
//   0x30 bytenr u64        the block's own logical address
//   0x38 flags u64         low 56 bits flags, top byte backref revision
//   0x40 chunk_tree_uuid[16]
//   0x50 generation u64    transaction that wrote the block
//   0x58 owner u64         tree id
//   0x60 nritems u32
//   0x64 level u8          0 = leaf

export const HEADER_SIZE = 0x65
/** BTRFS_MAX_LEVEL: a tree is at most 8 levels deep. */
export const MAX_LEVEL = 8

export interface TreeHeader {
  bytenr: number
  generation: number
  owner: bigint
  nritems: number
  level: number
}

/**
 * Parses and checks one tree block read from logical address `bytenr`:
 * checksum, fsid, self address. Throws TrimSkip on any mismatch.
 */
export function parseTreeHeader(block: Buffer, bytenr: number, fsid: Buffer, csum: BtrfsChecksum): TreeHeader {
  need(csum.verify(block, 0x20, block.length), `tree block at logical ${bytenr}: ${csum.name} checksum mismatch`)
  need(block.subarray(0x20, 0x30).equals(fsid), `tree block at logical ${bytenr}: fsid is not the filesystem's`)
  const self = u64(block, 0x30)
  need(self === bytenr, `tree block at logical ${bytenr} says it is at ${self}`)
  return {
    bytenr,
    generation: u64(block, 0x50),
    owner: block.readBigUInt64LE(0x58),
    nritems: u32(block, 0x60),
    level: u8(block, 0x64),
  }
}
