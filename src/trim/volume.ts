/**
 * The free-space trim (src/trim/): find what the guest's filesystems declare
 * unused inside a device, so that optimize/pack can store it as zeros.
 *
 * This file is the contract between the layers of the trim: the partition and
 * volume layer (MBR, GPT, LVM) hands each volume to the filesystem readers
 * (ext4.ts, swap.ts, ntfs.ts, ...) as a VolumeReader; each reader answers with
 * a VolumeVerdict. A reader that has any doubt answers `skip` with a reason:
 * a trim that zeroes one used byte is worse than no trim.
 */

/** Random read access to one volume (partition, LV or whole disk), in volume byte offsets. */
export interface VolumeReader {
  /** Size of the volume in bytes (the container: partition, LV or disk). */
  readonly size: number
  /** Fills all of `buf` from volume offset `offset`. Throws if the range is not inside the volume. */
  read(buf: Buffer, offset: number): Promise<void>
}

export interface TrimOptions {
  /** ext3/4 journal rule: `strict` skips a volume whose journal holds anything to replay; `union` also trims it, keeping every block any journaled bitmap marks used. */
  journal: 'strict' | 'union'
  /** Also zero unallocated LVM physical extents. */
  lvmFree: boolean
}

/**
 * The free space a filesystem declares, as an allocation bitmap of `units`
 * allocation units of `unit` bytes, unit 0 starting at volume offset `first`.
 * Bit i is byte i >> 3, mask 1 << (i & 7) (the on-disk order of ext4 and NTFS
 * bitmaps); a set bit means in use. Units past `units` are in use. Memory is
 * 1 bit per allocation unit, the bitmap itself.
 */
export interface AllocationMap {
  unit: number
  first: number
  units: number
  used: Uint8Array
}

/** What a filesystem reader concluded about one volume. */
export type VolumeVerdict =
  | {
      decision: 'trim'
      /** e.g. 'ext4', 'ext3', 'swap', 'ntfs' */
      kind: string
      label?: string
      map: AllocationMap
      /** Bytes the filesystem declares free (the clear bits times the unit). */
      freeBytes: number
      /** Facts for the report (block size, features, journal state...). */
      details?: Record<string, unknown>
    }
  | { decision: 'skip'; kind: string; label?: string; reason: string; details?: Record<string, unknown> }

/** A filesystem reader: `undefined` when the volume is not of its kind. */
export type FilesystemReader = (vol: VolumeReader, opts: TrimOptions) => Promise<VolumeVerdict | undefined>
