// The NTFS reader of files/guest-fs: files, directories, symlinks and
// alternate data streams of an NTFS volume, read from its structures alone.
// The boot sector, the $MFT (through its own runlist), MFT records with their
// fixups and the runlists are the trim's readers (trim/ntfs/); this folder adds
// what reading files needs: attribute lists, the in-order $I30 walk, data
// streams with holes, initialized sizes and LZNT1 compression, reparse points
// and $STANDARD_INFORMATION. FileId = MFT record number; the system files
// (records 0-15, $MFT ... $Extend) are not listed, as ntfs-3g hides them.

import { ATTR, type Attribute, type AttributeOptions } from '../../trim/ntfs/ntfs-attribute.js'
import { isBitLocker, isNtfsBoot, readNtfsBoot } from '../../trim/ntfs/ntfs-boot.js'
import { MFT_RECORD, type MftRecord } from '../../trim/ntfs/ntfs-record.js'
import { findRun, NtfsVolume } from '../../trim/ntfs/ntfs-volume.js'
import { readVolumeInfo } from '../../trim/ntfs/ntfs.js'
import type { VolumeReader } from '../../trim/volume.js'
import { VmaError } from '../../util/errors.js'
import type { DirEntry, FileId, FileRun, FileStat, GuestFs, GuestFsOpener, Xattr } from '../guest-fs.js'
import { gatherAttributes } from './ntfs-attribute-list.js'
import { ATTR_FLAG, allocatedBytes, type DataStream, joinSegments, StreamReader } from './ntfs-data-stream.js'
import { walkDirectoryIndex } from './ntfs-directory-index.js'
import { check, damaged, guarded, guardedSync, type Place, unsupported } from './ntfs-errors.js'
import { type FileName, isDosAlias, readFileName, utf16ToUtf8 } from './ntfs-file-name.js'
import { INTERIX_MAX, type InterixFile, readInterix } from './ntfs-interix.js'
import { readReparsePoint, REPARSE_TAG, type ReparsePoint, tagName } from './ntfs-reparse-point.js'
import { FILE_ATTR, readStandardInformation, type StandardInformation } from './ntfs-standard-information.js'
import { uncleanReasons, uncleanWarning } from './ntfs-volume-state.js'

/** Records below this are NTFS's own files; ntfs-3g and ntfsls do not list them. */
const FIRST_USER_RECORD = 16
const REF_MASK = 0xffffffffffffn
/** Files kept parsed, so the many read() calls of one file do not parse its records again. */
const CACHE = 64
/** Largest $REPARSE_POINT value (Windows' MAXIMUM_REPARSE_DATA_BUFFER_SIZE). */
const MAX_REPARSE = 16 * 1024

/** One file, parsed from its base record and any extension records. */
interface NtfsFile {
  id: number
  place: Place
  isDir: boolean
  attrs: Attribute[]
  si: StandardInformation
  names: FileName[]
  reparse?: ReparsePoint
  /** An Interix special file (ntfs-3g's symlinks, FIFOs, sockets, devices). */
  special?: InterixFile
}

const isLink = (r: ReparsePoint | undefined) => r !== undefined && (r.tag === REPARSE_TAG.symlink || r.tag === REPARSE_TAG.mountPoint)

class NtfsFs implements GuestFs {
  readonly kind = 'ntfs'
  readonly root = MFT_RECORD.root
  private readonly reader: StreamReader
  private readonly opts: AttributeOptions
  private readonly cache = new Map<number, NtfsFile>()

  constructor(
    private readonly ntfs: NtfsVolume,
    private readonly volume: string,
    readonly label: string | undefined,
    readonly warnings: readonly string[],
  ) {
    const cs = ntfs.boot.clusterSize
    this.reader = new StreamReader(ntfs.vol, cs)
    // A sparse file may be larger than the volume: its holes may reach as far as a safe integer of bytes.
    this.opts = { continued: true, maxVcns: Math.floor(Number.MAX_SAFE_INTEGER / cs) }
  }

  static async open(vol: VolumeReader, volume: string, sector: Buffer): Promise<NtfsFs> {
    const at: Place = { volume, record: 0 }
    const ntfs = await guarded({ volume, offset: 0 }, async () => NtfsVolume.open(vol, readNtfsBoot(sector, vol.size)))
    const info = await guarded({ ...at, record: MFT_RECORD.volume }, async () => readVolumeInfo(ntfs))
    const reasons = await guarded(at, async () => uncleanReasons(ntfs, info.flags))
    const fs = new NtfsFs(ntfs, volume, info.label, uncleanWarning(reasons))
    const root = await fs.file(MFT_RECORD.root)
    check(root.isDir, root.place, 'the root directory is not a directory')
    return fs
  }

  /** Volume offset of MFT record `n` (through the $MFT runlist), for messages. */
  private recordOffset(n: number): number | undefined {
    const { mftRecordSize: size, clusterSize: cs } = this.ntfs.boot
    const byte = n * size
    const i = findRun(this.ntfs.mft.runs, Math.floor(byte / cs))
    const run = this.ntfs.mft.runs[i]
    if (run?.lcn === undefined) return undefined
    return (run.lcn + Math.floor(byte / cs) - run.vcn) * cs + (byte % cs)
  }

  private place(n: number): Place {
    return { volume: this.volume, record: n, offset: this.recordOffset(n) }
  }

  private record(n: number): Promise<MftRecord> {
    return guarded(this.place(n), () => this.ntfs.record(n))
  }

  /** The file `id`: an in-use base record, its attributes gathered, its standard information and names decoded. */
  private async file(id: FileId): Promise<NtfsFile> {
    const hit = this.cache.get(id)
    if (hit) {
      this.cache.delete(id)
      this.cache.set(id, hit)
      return hit
    }
    if (!Number.isSafeInteger(id) || id < 0 || id >= this.ntfs.records) throw new VmaError('VMA_NOT_FOUND', -1, `ntfs ${this.volume}: no MFT record ${id} (the $MFT holds ${this.ntfs.records})`)
    const place = this.place(id)
    const rec = await this.record(id)
    check(rec.inUse, place, 'is not in use (a directory entry names a deleted file)')
    check(rec.baseRecord === 0n, place, `is an extension record of record ${rec.baseRecord & REF_MASK}, not a file`)
    const file = await guarded(place, async () => {
      const attrs = await gatherAttributes({ clusters: this.ntfs.boot.clusters, clusterSize: this.ntfs.boot.clusterSize, opts: this.opts, reader: this.reader, record: n => this.record(n) }, rec)
      const siAttr = attrs.find(a => a.type === ATTR.standardInformation)
      const si = siAttr?.resident ? readStandardInformation(siAttr.value) : undefined
      check(si !== undefined, place, 'has no valid $STANDARD_INFORMATION')
      const names: FileName[] = []
      for (const a of attrs) {
        if (a.type !== ATTR.fileName) continue
        const n = a.resident ? readFileName(a.value) : undefined
        check(n !== undefined, place, 'has a malformed $FILE_NAME')
        names.push(n)
      }
      const rp = attrs.filter(a => a.type === ATTR.reparsePoint)
      let reparse: ReparsePoint | undefined
      if (rp.length > 0) {
        const s = joinSegments(rp, this.ntfs.boot.clusterSize, '$REPARSE_POINT')
        check(s.dataSize <= MAX_REPARSE, place, `$REPARSE_POINT of ${s.dataSize} bytes`)
        const v = Buffer.alloc(s.dataSize)
        await this.reader.read(s, 0, v)
        reparse = readReparsePoint(v)
      }
      let special: InterixFile | undefined
      const data = attrs.filter(a => a.type === ATTR.data && a.name === '')
      if (!rec.isDirectory && reparse === undefined && data.length > 0 && (si.attributes & FILE_ATTR.system) !== 0) {
        const s = joinSegments(data, this.ntfs.boot.clusterSize, "$DATA ''")
        if (s.dataSize <= INTERIX_MAX && (s.flags & ATTR_FLAG.encrypted) === 0) {
          const v = Buffer.alloc(s.dataSize)
          await this.reader.read(s, 0, v)
          special = readInterix(v, si.attributes)
        }
      }
      return { id, place, isDir: rec.isDirectory, attrs, si, names, reparse, special }
    })
    this.cache.set(id, file)
    if (this.cache.size > CACHE) this.cache.delete(this.cache.keys().next().value!)
    return file
  }

  /** The data stream `name` ('' = unnamed) of a file that is not a directory or a foreign reparse point. */
  private async stream(id: FileId, name: string): Promise<{ f: NtfsFile; s: DataStream }> {
    const f = await this.file(id)
    if (f.isDir && name === '') throw new VmaError('VMA_NOT_FOUND', -1, `ntfs ${this.volume}: MFT record ${id} is a directory`)
    if (f.reparse && !isLink(f.reparse)) throw unsupported(f.place, `the file is a ${tagName(f.reparse.tag)} reparse point: its data lives elsewhere; cannot read it`)
    const segs = f.attrs.filter(a => a.type === ATTR.data && a.name === name)
    if (segs.length === 0) {
      if (name !== '') throw new VmaError('VMA_NOT_FOUND', -1, `ntfs ${this.volume}: MFT record ${id} has no stream '${name}'`)
      check(f.reparse !== undefined, f.place, 'has no unnamed $DATA')
      return { f, s: { name, flags: 0, resident: Buffer.alloc(0), dataSize: 0, initializedSize: 0, runs: [], unit: 0 } }
    }
    const s = guardedSync(f.place, () => joinSegments(segs, this.ntfs.boot.clusterSize, `$DATA '${name}'`))
    if ((s.flags & ATTR_FLAG.encrypted) !== 0 || (f.si.attributes & FILE_ATTR.encrypted) !== 0) throw unsupported(f.place, 'the file is EFS-encrypted; cannot read it')
    return { f, s }
  }

  async stat(id: FileId): Promise<FileStat> {
    const f = await this.file(id)
    const link = linkTarget(f)
    const type = link ? 'symlink' : f.isDir ? 'dir' : (f.special?.type ?? 'file')
    let size = 0
    let allocated = 0
    if (link) size = link.length
    else if (f.special) size = 0
    else if (!f.isDir && !(f.reparse && !isLink(f.reparse))) {
      const { s } = await this.stream(id, '')
      size = s.dataSize
      allocated = allocatedBytes(s, this.ntfs.boot.clusterSize)
    } else if (!f.isDir) {
      // A foreign reparse point (dedup, WOF, cloud): its size as NTFS records it, its data unread.
      const seg = f.attrs.find(a => a.type === ATTR.data && a.name === '' && (a.resident || a.lowestVcn === 0))
      size = seg === undefined ? 0 : seg.resident ? seg.value.length : seg.dataSize
    }
    const readonly = (f.si.attributes & FILE_ATTR.readonly) !== 0
    const perm = type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : readonly ? 0o444 : 0o644
    const nlink = Math.max(1, f.names.filter(n => !isDosAlias(n)).length)
    const st: FileStat = { id, type, perm, uid: 0, gid: 0, size, allocated, nlink, mtime: f.si.modified, atime: f.si.accessed, ctime: f.si.changed }
    if (f.special?.rdev) st.rdev = f.special.rdev
    return st
  }

  async *readdir(id: FileId): AsyncIterable<DirEntry> {
    const f = await this.file(id)
    if (!f.isDir) throw new VmaError('VMA_NOT_FOUND', -1, `ntfs ${this.volume}: MFT record ${id} is not a directory`)
    const entries = walkDirectoryIndex(f.attrs, this.reader, this.ntfs.boot.indexBlockSize, this.ntfs.boot.clusters)
    while (true) {
      const next = await guarded(f.place, () => entries.next())
      if (next.done) return
      const e = next.value
      const child = Number(e.ref & REF_MASK)
      if (child < FIRST_USER_RECORD) continue
      const fn = readFileName(e.key)
      check(fn !== undefined, f.place, `$I30 entry for record ${child} has a malformed key`)
      if (isDosAlias(fn)) continue
      const name = utf16ToUtf8(fn.utf16)
      check(
        name.length > 0 && !name.includes(0) && !name.includes(0x2f) && !(name.length <= 2 && /^\.\.?$/.test(name.toString('latin1'))),
        f.place,
        () => `$I30 entry for record ${child} has the name '${name.toString()}', which cannot be a file name`,
      )
      // A reparse point may be a symlink, a SYSTEM file an Interix special file: stat decides.
      const type = (fn.attributes & (FILE_ATTR.reparsePoint | FILE_ATTR.system)) !== 0 ? undefined : (fn.attributes & FILE_ATTR.directory) !== 0 ? 'dir' : 'file'
      yield { name, id: child, type }
    }
  }

  async readlink(id: FileId): Promise<Buffer> {
    const f = await this.file(id)
    if (f.reparse && !isLink(f.reparse)) throw unsupported(f.place, `the file is a ${tagName(f.reparse.tag)} reparse point, not a symlink`)
    const target = linkTarget(f)
    if (!target) throw new VmaError('VMA_NOT_FOUND', -1, `ntfs ${this.volume}: MFT record ${id} is not a symlink`)
    return target
  }

  async read(id: FileId, offset: number, buf: Buffer): Promise<number> {
    return this.readStream(id, '', offset, buf)
  }

  async *runs(id: FileId): AsyncIterable<FileRun> {
    const { s } = await this.stream(id, '')
    yield* this.reader.runs(s)
  }

  /** NTFS has no POSIX extended attributes: alternate data streams come through streams() (what ntfs-3g shows as user.* xattrs with streams_interface=xattr). */
  async xattrs(_id: FileId): Promise<Xattr[]> {
    return []
  }

  async streams(id: FileId): Promise<string[]> {
    const f = await this.file(id)
    return [...new Set(f.attrs.filter(a => a.type === ATTR.data && a.name !== '').map(a => a.name))]
  }

  async streamSize(id: FileId, stream: string): Promise<number> {
    return (await this.stream(id, stream)).s.dataSize
  }

  async readStream(id: FileId, stream: string, offset: number, buf: Buffer): Promise<number> {
    const { f, s } = await this.stream(id, stream)
    if (!Number.isSafeInteger(offset) || offset < 0) throw damaged(f.place, `read at offset ${offset}`)
    return guarded(f.place, () => this.reader.read(s, offset, buf))
  }
}

/**
 * A symlink's target as UTF-8, or undefined for other files. An Interix
 * symlink (ntfs-3g's) holds a POSIX target. A reparse-point symlink or
 * junction gives its print name (else its substitute name); a relative
 * symlink's `\` separators become `/`; an absolute target stays as Windows
 * wrote it (`C:\Users\...`), which no Linux path resolves, so `get` keeps it
 * as the link's text.
 */
function linkTarget(f: NtfsFile): Buffer | undefined {
  if (f.special?.target) return utf16ToUtf8(f.special.target)
  const r = f.reparse
  if (!r || !isLink(r)) return undefined
  const t = utf16ToUtf8(r.target!)
  if (r.relative) for (let i = 0; i < t.length; i++) if (t[i] === 0x5c) t[i] = 0x2f
  return t
}

export const openNtfsFs: GuestFsOpener = async (vol, name) => {
  if (vol.size < 1024) return { notMine: true }
  const sector = Buffer.alloc(512)
  await vol.read(sector, 0)
  if (isBitLocker(sector)) throw unsupported({ volume: name }, 'BitLocker-encrypted volume (-FVE-FS-): its files cannot be read')
  if (!isNtfsBoot(sector)) return { notMine: true }
  return { fs: await NtfsFs.open(vol, name, sector) }
}
