// The XFS reader of files/guest-fs (v4 and v5): inodes located from their
// numbers, data forks in local, extents and btree format, directories in
// every format (shortform, block, leaf, node, btree), regular files with holes
// and unwritten extents, inline and remote symlinks, extended attributes and
// POSIX ACLs. The superblock and log checks are the trim's (trim/xfs/).

import { TrimSkip } from '../../trim/skip.js'
import { XFS_SB_MAGIC, parseXfsSuper } from '../../trim/xfs/xfs-superblock.js'
import { checkLog } from '../../trim/xfs/xfs-log.js'
import { VmaError } from '../../util/errors.js'
import type { DirEntry, FileId, FileRun, FileStat, GuestFs, GuestFsOpener, Xattr } from '../guest-fs.js'
import { type Extent, extentsFormat } from './xfs-bmbt-rec.js'
import { bmapBtreeExtents } from './xfs-bmap-btree.js'
import { check, damaged, unsupported } from './xfs-damage.js'
import { DIR_LEAF_OFFSET, dataBlockEntries } from './xfs-dir-data.js'
import { shortformEntries } from './xfs-dir-sf.js'
import { type Dinode, type Fork, FMT, forkBytes, readDinode } from './xfs-dinode.js'
import { ExtentMap } from './xfs-extent-map.js'
import { SYMLINK_MAXLEN, remoteSymlink } from './xfs-symlink.js'
import { XfsVolume } from './xfs-volume.js'
import { inodeXattrs } from './xfs-attr.js'

/** Superblock problems that mean damage rather than a feature this reader lacks. */
const DAMAGE = /CRC mismatch|bad (sector|block) size|short|out of range|does not match|do not make|larger than its container|outside its AG|bad superblock magic/

export const openXfsFs: GuestFsOpener = async (vol, name) => {
  if (vol.size < 512) return { notMine: true }
  const first = Buffer.alloc(512)
  await vol.read(first, 0)
  if (first.readUInt32BE(0) !== XFS_SB_MAGIC) return { notMine: true }
  const sectSize = first.readUInt16BE(0x66)
  const w = { volume: name, offset: 0 }
  let sb: ReturnType<typeof parseXfsSuper>
  try {
    if (!(sectSize >= 512 && sectSize <= 32768 && sectSize <= vol.size)) throw new TrimSkip(`XFS: bad sector size ${sectSize}`)
    let raw = first
    if (sectSize !== 512) {
      raw = Buffer.alloc(sectSize)
      await vol.read(raw, 0)
    }
    sb = parseXfsSuper(raw, vol.size)
  } catch (e) {
    if (!(e instanceof TrimSkip)) throw e
    const what = `superblock: ${e.message.replace(/^XFS:\s*/, '')}`
    throw DAMAGE.test(e.message) ? damaged(w, what) : unsupported(w, what)
  }
  const x = new XfsVolume(vol, sb, name)
  const warnings: string[] = []
  try {
    await checkLog(vol, sb)
  } catch (e) {
    if (!(e instanceof TrimSkip)) throw e
    warnings.push(`the XFS log needs recovery (${e.message.replace(/^XFS log:?\s*/, '')}): changes of the last seconds before the backup may be missing`)
  }
  const fs = new XfsFs(x, warnings)
  const root = await fs.inode(x.rootIno)
  check(root.type === 'dir', x.where(root.ino, root.at), 'the root inode is not a directory')
  return { fs }
}

/** How many parsed inodes and extent maps are kept: enough for a walk, bounded whatever the directory size. */
const INODE_CACHE = 256
const MAP_CACHE = 16

class XfsFs implements GuestFs {
  readonly kind = 'xfs'
  readonly label?: string
  readonly root: FileId
  private readonly inodes = new Map<number, Dinode>()
  private readonly maps = new Map<number, ExtentMap>()

  constructor(
    private readonly x: XfsVolume,
    readonly warnings: readonly string[],
  ) {
    if (x.sb.label) this.label = x.sb.label
    this.root = x.rootIno
  }

  async inode(ino: number): Promise<Dinode> {
    const hit = this.inodes.get(ino)
    if (hit) return hit
    const d = await readDinode(this.x, ino)
    if (this.inodes.size >= INODE_CACHE) this.inodes.delete(this.inodes.keys().next().value!)
    this.inodes.set(ino, d)
    return d
  }

  /** The extents of a fork in extents or btree format. */
  async forkExtents(d: Dinode, f: Fork, attr: boolean): Promise<Extent[]> {
    const w = this.x.where(d.ino, d.at)
    let ext: Extent[]
    if (f.format === FMT.EXTENTS) ext = extentsFormat(this.x, forkBytes(d, f), f.nextents, w)
    else if (f.format === FMT.BTREE) ext = await bmapBtreeExtents(this.x, d.ino, forkBytes(d, f), d.at + f.off, f.nextents)
    else throw damaged(w, `${attr ? 'attribute' : 'data'} fork format ${f.format} has no extents`)
    if (attr) check(!ext.some(e => e.unwritten), w, 'attribute fork has an unwritten extent')
    return ext
  }

  /** The data fork's extent map (cached for repeated reads). */
  async dataMap(d: Dinode): Promise<ExtentMap> {
    const hit = this.maps.get(d.ino)
    if (hit) return hit
    const m = new ExtentMap(await this.forkExtents(d, d.data, false), this.x.sb.blockSize)
    if (this.maps.size >= MAP_CACHE) this.maps.delete(this.maps.keys().next().value!)
    this.maps.set(d.ino, m)
    return m
  }

  async stat(id: FileId): Promise<FileStat> {
    const d = await this.inode(id)
    const st: FileStat = {
      id,
      type: d.type,
      perm: d.mode & 0o7777,
      uid: d.uid,
      gid: d.gid,
      size: d.size,
      allocated: d.nblocks * this.x.sb.blockSize,
      nlink: d.nlink,
      mtime: d.mtime,
      atime: d.atime,
      ctime: d.ctime,
    }
    if (d.type === 'chardev' || d.type === 'blockdev') {
      check(d.data.format === FMT.DEV, this.x.where(id, d.at), `device inode in data fork format ${d.data.format}`)
      const dev = d.raw.readUInt32BE(d.data.off)
      st.rdev = { major: (dev >>> 18) & 0x3fff, minor: dev & 0x3ffff }
    }
    return st
  }

  private async ofType(id: FileId, type: string): Promise<Dinode> {
    const d = await this.inode(id)
    if (d.type !== type) throw new VmaError('VMA_NOT_FOUND', -1, `xfs inode ${id} is a ${d.type}, not a ${type}`, this.x.name)
    return d
  }

  async *readdir(id: FileId): AsyncIterable<DirEntry> {
    const x = this.x
    const d = await this.ofType(id, 'dir')
    const w = x.where(id, d.at + d.data.off)
    if (d.data.format === FMT.LOCAL) {
      check(d.size <= d.data.size, w, `shortform directory of ${d.size} bytes in a ${d.data.size}-byte fork`)
      yield* shortformEntries(x, forkBytes(d, d.data).subarray(0, d.size), w)
      return
    }
    const map = await this.dataMap(d)
    const bs = x.sb.blockSize
    const per = x.dirBlocks
    const leafBlock = DIR_LEAF_OFFSET / bs
    const b = Buffer.alloc(x.dirBlockSize)
    let next = 0 // the first file block not yet read
    for (const e of map.extents) {
      for (let fb = Math.max(e.off, next); fb < e.off + e.count && fb < leafBlock; fb = next) {
        const start = fb - (fb % per)
        next = start + per
        // the directory block's filesystem blocks, each mapped (they may span extents)
        let firstLin = -1
        for (let k = 0; k < per; k++) {
          const lin = map.map(start + k)
          check(lin >= 0, w, `directory block at file block ${start} is partly a hole`)
          if (k === 0) firstLin = lin
          await x.read(b.subarray(k * bs, (k + 1) * bs), lin * bs)
        }
        yield* dataBlockEntries(x, id, b, firstLin, x.where(id, firstLin * bs))
      }
    }
  }

  async readlink(id: FileId): Promise<Buffer> {
    const d = await this.ofType(id, 'symlink')
    const w = this.x.where(id, d.at + d.data.off)
    if (d.data.format === FMT.LOCAL) {
      check(d.size > 0 && d.size <= d.data.size && d.size <= SYMLINK_MAXLEN, w, `inline symlink target of ${d.size} bytes in a ${d.data.size}-byte fork`)
      return Buffer.from(forkBytes(d, d.data).subarray(0, d.size))
    }
    return remoteSymlink(this.x, id, d.at, await this.dataMap(d), d.size)
  }

  private async fileMap(id: FileId): Promise<{ d: Dinode; map: ExtentMap }> {
    const d = await this.ofType(id, 'file')
    if (d.data.format === FMT.LOCAL) {
      check(d.size === 0, this.x.where(id, d.at), `regular file of ${d.size} bytes in local format`)
      return { d, map: new ExtentMap([], this.x.sb.blockSize) }
    }
    return { d, map: await this.dataMap(d) }
  }

  async read(id: FileId, offset: number, buf: Buffer): Promise<number> {
    const { d, map } = await this.fileMap(id)
    const bs = this.x.sb.blockSize
    const end = Math.min(d.size, offset + buf.length)
    let pos = offset
    while (pos < end) {
      const fb = Math.floor(pos / bs)
      const e = map.extents[map.find(fb)]
      if (!e || e.off > fb) {
        const stop = Math.min(end, e ? e.off * bs : end)
        buf.fill(0, pos - offset, stop - offset)
        pos = stop
        continue
      }
      const stop = Math.min(end, (e.off + e.count) * bs)
      if (e.unwritten) buf.fill(0, pos - offset, stop - offset)
      else await this.x.read(buf.subarray(pos - offset, stop - offset), e.block * bs + (pos - e.off * bs))
      pos = stop
    }
    return Math.max(0, end - offset)
  }

  async *runs(id: FileId): AsyncIterable<FileRun> {
    const { d, map } = await this.fileMap(id)
    yield* map.runs(d.size)
  }

  async xattrs(id: FileId): Promise<Xattr[]> {
    const d = await this.inode(id)
    return inodeXattrs(this.x, d, (dd, f) => this.forkExtents(dd, f, true))
  }
}
