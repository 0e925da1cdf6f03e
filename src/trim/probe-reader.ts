// The plumbing of the signature scan (signatures.ts): what a signature is,
// a probe, and the cached reads the probes share.

import type { VolumeReader } from './volume.js'

/**
 * Every on-disk signature the trim knows, found in one volume (a disk, a
 * partition or an LV) at every offset its format uses. Two or more plausible
 * readings of one volume (left-overs of an earlier format, an md member that
 * starts with its array's partition table...) mean the volume is skipped; so
 * the scan looks for everything, not just what we trim.
 */
export type SignatureKind =
  | 'mbr'
  | 'gpt'
  | 'lvm2-pv'
  | 'ntfs'
  | 'ext'
  | 'swap'
  | 'swap-hibernation'
  | 'swap-v0'
  | 'xfs'
  | 'btrfs'
  | 'zfs'
  | 'luks'
  | 'vfat'
  | 'exfat'
  | 'md-raid'
  | 'bitlocker'
  | 'ldm'
  | 'storage-spaces'
  | 'bcache'
  // formats vma-opt never reads, found so that a stale superblock under one of them is a second reading (foreign-probes.ts)
  | 'refs'
  | 'jfs'
  | 'reiserfs'
  | 'ufs'
  | 'hfs'
  | 'hfsplus'
  | 'bcachefs'
  | 'nilfs2'
  | 'vdo'
  | 'drbd'
  | 'apfs'
  | 'f2fs'

/** One signature found: what, at which volume byte offset, and a phrase for reasons. */
export interface Signature {
  kind: SignatureKind
  offset: number
  /** "ext superblock at 1024", "md superblock 1.0 at 1073733632" */
  what: string
}

/** Reads of one volume for the probes: each region once, past the end reads as absent. */
export class ProbeReader {
  private cache = new Map<string, Buffer | undefined>()
  constructor(readonly vol: VolumeReader) {}
  get size(): number {
    return this.vol.size
  }
  async at(off: number, n: number): Promise<Buffer | undefined> {
    if (off < 0 || !Number.isSafeInteger(off) || off + n > this.vol.size) return undefined
    const key = `${off}:${n}`
    if (this.cache.has(key)) return this.cache.get(key)
    const b = Buffer.alloc(n)
    await this.vol.read(b, off)
    this.cache.set(key, b)
    return b
  }
  async ascii(off: number, n: number): Promise<string> {
    const b = await this.at(off, n)
    return b ? b.toString('latin1') : ''
  }
}

/** A probe answers the offset of its signature, or undefined. */
export interface Probe {
  kind: SignatureKind
  find(r: ProbeReader): Promise<Signature | undefined>
}

export const sig = (kind: SignatureKind, offset: number, what: string): Signature => ({ kind, offset, what })

/** A probe for a fixed magic string at a fixed offset from the start. */
export const magicAt = (kind: SignatureKind, off: number, magic: string, what: string): Probe => ({
  kind,
  async find(r) {
    return (await r.ascii(off, magic.length)) === magic ? sig(kind, off, what) : undefined
  },
})
