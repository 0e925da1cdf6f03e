// The ext2/3/4 reader of files/guest-fs: opens a volume from its superblock
// and group descriptors (the trim's parsers), then answers stat, readdir,
// read, runs, readlink and xattrs from inodes, extent trees or block maps,
// directory blocks (linear and htree) and inline data, reading only the
// blocks each answer needs. Memory is a few blocks per open walk.

import type { DirEntry, FileRun, GuestFs, GuestFsOpener, Xattr } from '../guest-fs.js'
import type { VolumeReader } from '../../trim/volume.js'
import { type ExtSuper, COMPAT, INCOMPAT, extKind, parseExtSuper, rawFeatures } from '../../trim/ext/ext4-superblock.js'
import { readJournal } from '../../trim/ext/jbd2.js'
import { TrimSkip } from '../../trim/skip.js'
import { type ExtPlace, check, damaged, notA, unsupported, viaTrim } from './ext-errors.js'
import { ExtVolume } from './ext-volume.js'
import { type ExtInode, FL, readExtInode } from './ext-inode.js'
import { type BlockExtent, extentAt, extents } from './ext-extent-tree.js'
import { mappedBlockAt, mappedBlocks } from './ext-block-map.js'
import { type DirParse, TAIL_SIZE, checkTail, hasTail, parseDirEntries } from './ext-dir-block.js'
import { dxKind } from './ext-htree.js'
import { inlineFile, inlineParts } from './ext-inline-data.js'
import { blockXattrs, inodeXattrs } from './ext-xattr.js'
import { aclToXattr } from './ext-acl.js'

const INCOMPAT_NAMES: [number, string][] = [
  [0x1, 'compression'],
  [0x2, 'filetype'],
  [0x4, 'needs_recovery'],
  [0x8, 'journal_dev'],
  [0x10, 'meta_bg'],
  [0x40, 'extent'],
  [0x80, '64bit'],
  [0x100, 'mmp'],
  [0x200, 'flex_bg'],
  [0x400, 'ea_inode'],
  [0x1000, 'dirdata'],
  [0x2000, 'metadata_csum_seed'],
  [0x4000, 'large_dir'],
  [0x8000, 'inline_data'],
  [0x10000, 'encrypt'],
  [0x20000, 'casefold'],
]
/** INCOMPAT bits this reader follows (ea_inode: refused per attribute; encrypt: names listed, contents refused). */
const INCOMPAT_READ = 0x2 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x20000
const COMPAT_DIR_INDEX = 0x20
const INCOMPAT_FILETYPE = 0x2
const INCOMPAT_LARGEDIR = 0x4000
const INCOMPAT_INLINE = 0x8000
const ROOT = 2
/** Inodes kept parsed: a read loop over one file reads its inode once. */
const INODE_CACHE = 32
/** Largest contiguous read issued for a block-mapped file (blocks). */
const MAP_COALESCE = 256

export const openExtFs: GuestFsOpener = async (vol, name) => {
  if (vol.size < 2048) return { notMine: true }
  const raw = Buffer.alloc(1024)
  await vol.read(raw, 1024)
  if (raw.readUInt16LE(0x38) !== 0xef53) return { notMine: true }
  const feats = rawFeatures(raw)
  const kind = extKind(feats)
  const unknown = feats.incompat & ~INCOMPAT_READ
  if (unknown) {
    const names = INCOMPAT_NAMES.filter(([bit]) => unknown & bit).map(([, n]) => n)
    throw unsupported(kind, 0, `on ${name} uses the incompatible feature${names.length > 1 ? 's' : ''} ${names.join(', ') || `0x${unknown.toString(16)}`}`)
  }
  const sb = await viaTrim({ kind, ino: 0, offset: 1024 }, 'superblock', () => parseExtSuper(raw, vol.size, { forReading: true }))
  const v = new ExtVolume(vol, sb, kind)
  const warnings = await journalWarnings(vol, sb, kind)
  return { fs: new ExtFs(v, warnings) }
}

/** One line when the journal holds changes the on-disk structures lack (debugfs reads the same way). */
async function journalWarnings(vol: VolumeReader, sb: ExtSuper, kind: string): Promise<string[]> {
  if (!(sb.incompat & INCOMPAT.RECOVER) || !(sb.compat & COMPAT.HAS_JOURNAL)) return []
  const missing = 'the journal needs recovery: changes of the last seconds before the backup may be missing (read as debugfs does, without replaying it)'
  try {
    const st = await readJournal(vol, sb, 'union', { isBitmap: () => false, isGdt: () => false })
    return st.committed > 0 ? [`${kind}: ${missing}`] : []
  } catch (e) {
    if (e instanceof TrimSkip) return [`${kind}: ${missing} (${e.message})`]
    throw e
  }
}

class ExtFs implements GuestFs {
  readonly kind: string
  readonly label?: string
  readonly root = ROOT
  private inodes = new Map<number, ExtInode>()

  constructor(
    private v: ExtVolume,
    readonly warnings: readonly string[],
  ) {
    this.kind = v.kind
    if (v.sb.label) this.label = v.sb.label
  }

  private async inode(id: number): Promise<ExtInode> {
    const hit = this.inodes.get(id)
    if (hit) return hit
    const ino = await readExtInode(this.v, id)
    if (this.inodes.size >= INODE_CACHE) this.inodes.delete(this.inodes.keys().next().value as number)
    this.inodes.set(id, ino)
    return ino
  }

  private place(ino: ExtInode, off = 0): ExtPlace {
    return { kind: this.kind, ino: ino.ino, offset: off || ino.offset }
  }

  private notEncrypted(ino: ExtInode, what: string): void {
    if (ino.flags & FL.ENCRYPT) throw unsupported(this.kind, ino.ino, `uses the encrypted flag (${what})`)
  }

  async stat(id: number) {
    return { ...(await this.inode(id)).stat }
  }

  /** The inode's block extents in logical order (extent tree or block map). */
  private blockExtents(ino: ExtInode): AsyncGenerator<BlockExtent> {
    return ino.flags & FL.EXTENTS ? extents(this.v, ino) : mappedBlocks(this.v, ino)
  }

  private async extentAt(ino: ExtInode, lblk: number, maxBlocks: number): Promise<BlockExtent> {
    if (ino.flags & FL.EXTENTS) return extentAt(this.v, ino, lblk)
    const first = await mappedBlockAt(this.v, ino, lblk)
    // a block map gives one block at a time: gather the physically contiguous ones
    while (first.count < Math.min(maxBlocks, MAP_COALESCE)) {
      const next = await mappedBlockAt(this.v, ino, lblk + first.count)
      if ((first.physical === 0) !== (next.physical === 0) || (first.physical && next.physical !== first.physical + first.count)) break
      first.count++
    }
    return first
  }

  async *readdir(id: number): AsyncIterable<DirEntry> {
    const ino = await this.inode(id)
    if (ino.type !== 'dir') throw notA(this.kind, id, 'directory')
    const sb = this.v.sb
    const how: DirParse = { filetype: (sb.incompat & INCOMPAT_FILETYPE) !== 0, encrypted: (ino.flags & FL.ENCRYPT) !== 0 }
    const out: DirEntry[] = []
    if (ino.flags & FL.INLINE_DATA) {
      check(sb.incompat & INCOMPAT_INLINE, this.place(ino), 'inode', 'has the INLINE_DATA flag without the inline_data feature')
      const [head, tail] = inlineParts(this.v, ino)
      parseDirEntries(head, 4, head.length, 60, how, this.place(ino, ino.offset + 0x28), out)
      if (tail.length) parseDirEntries(tail, 0, tail.length, tail.length, how, this.place(ino, ino.offset + ino.extraEnd), out)
      yield* out
      return
    }
    const bs = this.v.blockSize
    const indexed = (sb.compat & COMPAT_DIR_INDEX) !== 0 && (ino.flags & FL.INDEX) !== 0
    const largedir = (sb.incompat & INCOMPAT_LARGEDIR) !== 0
    const end = Math.ceil(ino.size / bs)
    const buf = Buffer.allocUnsafe(bs)
    for await (const e of this.blockExtents(ino)) {
      if (e.unwritten) continue
      for (let i = 0; i < e.count && e.logical + i < end; i++) {
        const blk = e.physical + i
        const p = this.place(ino, blk * bs)
        await this.v.readBlocks(p, 'directory block', blk, buf)
        const kind = dxKind(buf, e.logical + i, indexed, largedir, p)
        // the root holds '.' and '..' (its dx entries hide under '..'), a node one fake entry: nothing to list
        if (kind !== 'leaf') continue
        let stop = bs
        if (hasTail(buf)) {
          if (sb.metadataCsum) checkTail(buf, ino.csumSeed, p)
          stop = bs - TAIL_SIZE
        }
        parseDirEntries(buf, 0, stop, bs, how, p, out)
        yield* out
        out.length = 0
      }
    }
  }

  /** The bytes kept in the inode itself: inline data, or a fast symlink's target in i_block (size < 60). */
  private inlineBytes(ino: ExtInode): Buffer | undefined {
    if (ino.flags & FL.INLINE_DATA) return inlineFile(this.v, ino)
    if (ino.type === 'symlink' && ino.size < 60) return ino.iblock.subarray(0, ino.size)
    return undefined
  }

  async readlink(id: number): Promise<Buffer> {
    const ino = await this.inode(id)
    const p = this.place(ino)
    if (ino.type !== 'symlink') throw notA(this.kind, id, 'symbolic link')
    this.notEncrypted(ino, 'symlink target')
    check(ino.size > 0 && ino.size <= this.v.blockSize, p, 'symlink', `has length ${ino.size} (0 or more than a block)`)
    const inline = this.inlineBytes(ino)
    if (inline) return Buffer.from(inline)
    const buf = Buffer.alloc(ino.size)
    const n = await this.read(id, 0, buf)
    check(n === ino.size, p, 'symlink', 'is shorter than its size')
    return buf
  }

  async read(id: number, offset: number, buf: Buffer): Promise<number> {
    const ino = await this.inode(id)
    this.notEncrypted(ino, 'file contents')
    if (offset >= ino.size || buf.length === 0) return 0
    const n = Math.min(buf.length, ino.size - offset)
    const inline = this.inlineBytes(ino)
    if (inline) {
      inline.copy(buf, 0, offset, offset + n)
      return n
    }
    const bs = this.v.blockSize
    let done = 0
    while (done < n) {
      const pos = offset + done
      const lblk = Math.floor(pos / bs)
      const within = pos % bs
      const want = Math.ceil((within + n - done) / bs)
      const e = await this.extentAt(ino, lblk, want)
      const skip = lblk - e.logical
      const bytes = Math.min((e.count - skip) * bs - within, n - done)
      check(bytes > 0, this.place(ino), 'block mapping', `of logical block ${lblk} is empty`)
      const part = buf.subarray(done, done + bytes)
      if (e.physical === 0 || e.unwritten) part.fill(0)
      else await this.v.vol.read(part, (e.physical + skip) * bs + within)
      done += bytes
    }
    return n
  }

  async *runs(id: number): AsyncIterable<FileRun> {
    const ino = await this.inode(id)
    this.notEncrypted(ino, 'file contents')
    const size = ino.size
    if (size === 0) return
    if (this.inlineBytes(ino)) {
      yield { offset: 0, length: size, data: true }
      return
    }
    const bs = this.v.blockSize
    let cur: FileRun | undefined
    const push = function* (offset: number, end: number, data: boolean): Generator<FileRun> {
      if (end <= offset) return
      if (cur && cur.data === data && cur.offset + cur.length === offset) {
        cur.length = end - cur.offset
        return
      }
      if (cur) yield cur
      cur = { offset, length: end - offset, data }
    }
    let at = 0
    for await (const e of this.blockExtents(ino)) {
      const start = Math.min(e.logical * bs, size)
      const end = Math.min((e.logical + e.count) * bs, size)
      yield* push(at, start, false)
      yield* push(start, end, !e.unwritten)
      at = Math.max(at, end)
      if (at >= size) break
    }
    yield* push(at, size, false)
    if (cur) yield cur
  }

  async xattrs(id: number): Promise<Xattr[]> {
    const ino = await this.inode(id)
    const raw = [...inodeXattrs(this.v, ino), ...(await blockXattrs(this.v, ino))]
    const out: Xattr[] = []
    for (const x of raw) {
      const n = x.name.toString('latin1')
      const p = this.place(ino)
      switch (x.index) {
        case 1:
          out.push({ name: `user.${n}`, value: x.value })
          break
        case 2:
          out.push({ name: 'system.posix_acl_access', value: aclToXattr(x.value, p) })
          break
        case 3:
          out.push({ name: 'system.posix_acl_default', value: aclToXattr(x.value, p) })
          break
        case 4:
          out.push({ name: `trusted.${n}`, value: x.value })
          break
        case 6:
          out.push({ name: `security.${n}`, value: x.value })
          break
        case 7:
          // system.data is the inline data itself, not an attribute a user set
          if (n !== 'data') out.push({ name: `system.${n}`, value: x.value })
          break
        case 8:
          out.push({ name: 'system.richacl', value: x.value })
          break
        default:
          throw damaged(p, 'extended attribute', `has unknown name index ${x.index}`)
      }
    }
    return out
  }
}
