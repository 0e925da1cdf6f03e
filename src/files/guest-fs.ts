// The contract between the guest filesystem readers (files/ext/, files/ntfs/,
// files/xfs/) and the single-file restore (restore/: `vma-opt ls`, `vma-opt
// get`). A reader opens one volume (a partition, an LV or a whole disk: the
// trim's VolumeReader) and answers from the on-disk structures alone, reading
// only the blocks it needs. It never trusts a field: every count, size and
// block number is bounded by the volume before use, every walk (directory,
// extent tree, runlist, B+tree) is bounded and detects loops, and memory does
// not grow with a directory's size (readdir streams).
//
// A damaged structure is a VmaError 'VMA_GUEST_DAMAGED' (exit 1) whose
// message names the structure, the inode or record, and the volume byte
// offset: `ext4 inode 12: extent tree depth 9 at volume offset 1049600 is
// more than 5`. A feature the reader does not handle is 'VMA_GUEST_UNSUPPORTED'
// (exit 2) naming it: `ext4: inode 14 uses the encrypted flag; cannot read it`.

import type { VolumeReader } from '../trim/volume.js'

export type FileType = 'file' | 'dir' | 'symlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket'

/** A file's identity inside its filesystem: an ext/XFS inode number, an NTFS MFT record number. */
export type FileId = number

export interface Timestamp {
  /** Seconds since 1970-01-01 UTC (may be negative). */
  sec: number
  /** 0 .. 999 999 999 */
  nsec: number
}

export interface FileStat {
  id: FileId
  type: FileType
  /** Permission bits with setuid, setgid and sticky (0o7777); NTFS: synthesized (0o755 dirs, 0o644 files). */
  perm: number
  uid: number
  gid: number
  /** Logical size in bytes (a symlink: its target's length). */
  size: number
  /** Bytes the file occupies on the volume (holes and inline data take none). */
  allocated: number
  nlink: number
  mtime: Timestamp
  atime: Timestamp
  ctime: Timestamp
  /** Device numbers of a chardev or blockdev. */
  rdev?: { major: number; minor: number }
}

export interface DirEntry {
  /** The name's bytes as stored (ext, XFS) or as UTF-8 (NTFS, from UTF-16); never contains '/' or NUL, never '.' or '..'. */
  name: Buffer
  id: FileId
  /** From the directory entry when the filesystem stores it there, else undefined (ask stat). */
  type?: FileType
}

/** A run of the file's bytes: `data` runs are stored, others read as zeros (holes, unwritten extents). */
export interface FileRun {
  offset: number
  length: number
  data: boolean
}

export interface Xattr {
  /** With its namespace prefix as getfattr shows it: `user.foo`, `security.selinux`, `system.posix_acl_access`, `trusted.x`. */
  name: string
  value: Buffer
}

export interface GuestFs {
  /** 'ext2' | 'ext3' | 'ext4' | 'ntfs' | 'xfs' */
  readonly kind: string
  readonly label?: string
  /**
   * Doubts the caller must show the user, one line each (e.g. "the journal
   * needs recovery: changes of the last seconds before the backup may be
   * missing"). The reader still answers from what the structures say.
   */
  readonly warnings: readonly string[]
  readonly root: FileId
  stat(id: FileId): Promise<FileStat>
  /** The entries of a directory, streamed in on-disk order, without '.' and '..'. */
  readdir(id: FileId): AsyncIterable<DirEntry>
  /** A symlink's target bytes. */
  readlink(id: FileId): Promise<Buffer>
  /**
   * Fills `buf` from file offset `offset` (holes as zeros); returns the
   * bytes filled, fewer only at the end of the file.
   */
  read(id: FileId, offset: number, buf: Buffer): Promise<number>
  /** The file's runs in order, covering 0 .. size: what `get` keeps as holes. */
  runs(id: FileId): AsyncIterable<FileRun>
  /** Extended attributes and POSIX ACLs (as system.posix_acl_* in the kernel's xattr form). */
  xattrs(id: FileId): Promise<Xattr[]>
  /** NTFS alternate data streams: their names (without the unnamed one); others: none. */
  streams?(id: FileId): Promise<string[]>
  /** A named stream's size in bytes. */
  streamSize?(id: FileId, stream: string): Promise<number>
  /** Reads a named stream like read(). */
  readStream?(id: FileId, stream: string, offset: number, buf: Buffer): Promise<number>
}

/**
 * What a reader says of a volume: its filesystem opened, or not this
 * filesystem at all (the next reader is asked). Damage in a volume that is
 * clearly this filesystem throws VMA_GUEST_DAMAGED instead.
 */
export type OpenResult = { fs: GuestFs } | { notMine: true }

export type GuestFsOpener = (vol: VolumeReader, name: string) => Promise<OpenResult>
