// One opened ext2/3/4 volume: the superblock (the trim's parser), the group
// descriptors (the trim's parser, checked with their checksum when the
// filesystem has one), and bounded reads of metadata blocks through a small
// cache. Everything above (inodes, extent trees, directories) reads blocks
// through here, so each block number is checked against the filesystem size
// once, in one place.

import type { VolumeReader } from '../../trim/volume.js'
import type { ExtSuper } from '../../trim/ext/ext4-superblock.js'
import { type GroupDesc, descBlockOf, descChecksum, inodeTableBlocks, parseDesc } from '../../trim/ext/ext4-groups.js'
import { type ExtPlace, check } from './ext-errors.js'

/** Metadata blocks kept (extent nodes, indirect blocks, descriptor and xattr blocks): a few levels of a few trees. */
const CACHE_BLOCKS = 64

export class ExtVolume {
  private cache = new Map<number, Buffer>()
  private descs = new Map<number, GroupDesc>()

  constructor(
    readonly vol: VolumeReader,
    readonly sb: ExtSuper,
    readonly kind: string,
  ) {}

  get blockSize(): number {
    return this.sb.blockSize
  }

  /** Throws damaged unless blocks [block, block+count) lie inside the filesystem (block 0 is never data). */
  checkBlocks(p: ExtPlace, structure: string, block: number, count: number): void {
    check(
      block >= 1 && count >= 0 && block + count <= this.sb.blocks,
      p,
      structure,
      () => `points to block ${block}${count > 1 ? ` (+${count})` : ''} outside the filesystem's ${this.sb.blocks} blocks`,
    )
  }

  /** A metadata block (cached; callers must not modify it). */
  async block(p: ExtPlace, structure: string, block: number): Promise<Buffer> {
    this.checkBlocks(p, structure, block, 1)
    const hit = this.cache.get(block)
    if (hit) {
      this.cache.delete(block)
      this.cache.set(block, hit)
      return hit
    }
    const b = Buffer.allocUnsafe(this.sb.blockSize)
    await this.vol.read(b, block * this.sb.blockSize)
    if (this.cache.size >= CACHE_BLOCKS) this.cache.delete(this.cache.keys().next().value as number)
    this.cache.set(block, b)
    return b
  }

  /** Reads blocks [block, block + buf.length / blockSize) into buf (data: no cache). */
  async readBlocks(p: ExtPlace, structure: string, block: number, buf: Buffer): Promise<void> {
    this.checkBlocks(p, structure, block, Math.ceil(buf.length / this.sb.blockSize))
    await this.vol.read(buf, block * this.sb.blockSize)
  }

  /** Group g's descriptor, its checksum verified when the filesystem has group checksums. */
  async desc(g: number): Promise<GroupDesc> {
    const hit = this.descs.get(g)
    if (hit) return hit
    const sb = this.sb
    const blk = descBlockOf(sb, g)
    const off = (g % sb.descPerBlock) * sb.descSize
    const p: ExtPlace = { kind: this.kind, ino: 0, offset: blk * sb.blockSize + off }
    const raw = await this.block(p, `descriptor of group ${g}`, blk)
    const d = parseDesc(sb, raw, off)
    if (sb.metadataCsum || sb.gdtCsum) check(descChecksum(sb, g, raw, off) === d.checksum, p, `descriptor of group ${g}`, 'has a bad checksum')
    check(d.inodeTable >= 1 && d.inodeTable + inodeTableBlocks(sb) <= sb.blocks, p, `descriptor of group ${g}`, `puts the inode table at block ${d.inodeTable}, outside the filesystem`)
    // descriptors are small, but a huge filesystem has millions: keep a bounded set
    if (this.descs.size >= 4096) this.descs.clear()
    this.descs.set(g, d)
    return d
  }

  /** Volume byte offset of inode `ino`'s record. */
  async inodeOffset(ino: number): Promise<number> {
    const sb = this.sb
    const g = Math.floor((ino - 1) / sb.inodesPerGroup)
    const d = await this.desc(g)
    return d.inodeTable * sb.blockSize + ((ino - 1) % sb.inodesPerGroup) * sb.inodeSize
  }
}
