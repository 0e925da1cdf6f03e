// Decides whether an archive is already in vma-opt's optimized form
// (spec/optimized-form.md) by comparing what it reads with what the
// optimizer would write: the header and every extent header byte for byte,
// and, when the data is read too, that no stored block is all zeros and no
// byte past a device end is set. Two variants are the optimized form: packed
// (no padding) and aligned (empty extents before each extent that stores
// blocks, so that every block starts at a multiple of 4 KiB).

import { BLOCK_SIZE, CLUSTER_SIZE, EXTENT_HEADER_SIZE, SLOTS_PER_EXTENT } from '../format/constants.js'
import { EXTENT_MD5_OFFSET, ExtentHeader } from '../format/extent-header.js'
import { VmaHeader, type VmaDevice } from '../format/header.js'
import { clusterCount } from '../format/cluster-tracker.js'
import { parseUuid } from '../format/uuid.js'
import { OPTIMIZED_UUID } from '../format/constants.js'
import type { ClusterEntry, VmaSink } from '../format/vma-sink.js'
import { asBuffer, isZero } from '../util/zero.js'

/** The uuid of the optimized form. */
export const FIXED_UUID = parseUuid(OPTIMIZED_UUID)

/** What the aligned form aligns data blocks to: the block that filesystems share (and a divisor of ZFS record sizes). */
export const ALIGNMENT = 4096

/**
 * Empty extents the aligned form puts before an extent that stores blocks
 * and would otherwise start at `offset`, so that its first block (and so
 * every one, each 4 KiB long) starts at a multiple of ALIGNMENT.
 */
export function alignPadding(offset: number): number {
  const gap = (((ALIGNMENT - EXTENT_HEADER_SIZE - offset) % ALIGNMENT) + ALIGNMENT) % ALIGNMENT
  return gap / EXTENT_HEADER_SIZE
}

export class FormCheck implements VmaSink {
  /** Why the archive is not in the optimized form (empty when it is). */
  readonly reasons: string[] = []
  fixedUuid = false
  /** Whether stored data was seen, so the block-level rules were checked. */
  dataChecked = false
  private devs: VmaDevice[] = []
  private devIndex = 0
  private chunkStart = 0
  private layoutOk = true
  private readonly scratch = Buffer.alloc(512)
  private readonly clusterNums = new Uint32Array(SLOTS_PER_EXTENT)
  private readonly devIds = new Uint8Array(SLOTS_PER_EXTENT)
  // Per-cluster data state.
  private got = 0
  private tailFrom = -1
  private tailEnd = -1
  private sizes: (number | undefined)[] = []
  /** The current cluster belongs to a vmstate stream. */
  private verbatim = false
  private vmstateIds: boolean[] = []
  /** Every device is a vmstate stream (or there are none): they may all be empty. */
  private streamsOnly = true
  /** Empty extents since the last one that lists clusters, and where the first of them starts. */
  private pads = 0
  private padStart = 0
  /** An extent that lists clusters was seen. */
  private listed = false
  /** Every extent so far has the padding of the aligned form, or none at all (packed). */
  private alignedOk = true
  private packedOk = true
  private blockZero = true
  private sawZeroBlock = false
  private sawTail = false

  /** Optimized form with the fixed uuid, or with any uuid when `keepUuid`. */
  /** A check that was not run: never says optimized, and says why. */
  static notJudged(): FormCheck {
    const f = new FormCheck()
    f.reasons.push('the form was not judged')
    return f
  }

  /** In the optimized form (either variant; only the aligned one with `align`). */
  optimized(keepUuid = false, align = false): boolean {
    return this.reasons.length === 0 && (keepUuid || this.fixedUuid) && (!align || this.alignedOk)
  }

  /** The layout has the aligned form's padding (an archive may be both packed and aligned, by chance). */
  get aligned(): boolean {
    return this.layoutOk && this.alignedOk
  }

  header(h: VmaHeader): void {
    this.fixedUuid = h.uuid.equals(FIXED_UUID)
    if (h.delta) {
      // A delta is never an archive in the optimized form, whatever its layout.
      this.reasons.push('it is a vma-opt delta, not an archive')
      this.layoutOk = false
      return
    }
    this.devs = h.deviceList
    // A vmstate stream has no size bound and is carried as stored: no tail or zero-block rule.
    for (const d of this.devs) {
      this.sizes[d.id] = d.name === 'vmstate' ? undefined : d.size
      this.vmstateIds[d.id] = d.name === 'vmstate'
    }
    this.streamsOnly = this.devs.every(d => d.name === 'vmstate')
    let canonical: Buffer | undefined
    try {
      canonical = VmaHeader.encode({ uuid: h.uuid, ctime: h.ctimeRaw, configs: h.configs, devices: this.devs })
    } catch {
      canonical = undefined
    }
    if (!canonical?.equals(h.raw)) this.reasons.push('the header is not in canonical encoding')
  }

  extent(e: ExtentHeader, offset: number, raw: Uint8Array): void {
    if (!this.layoutOk) return
    let n = 0
    let dev = 0
    if (e.count === 0) {
      // The aligned form's padding, or the one extent of an archive that
      // lists no cluster: what follows tells which (end() and judgePadding).
      if (this.pads === 0) this.padStart = offset
      this.pads++
    } else {
      let d = this.devs[this.devIndex]
      // A vmstate stream has no size bound: it ends (or, empty, never began) where the next device begins.
      while (d?.name === 'vmstate' && d.id !== e.devIds[0]) {
        d = this.devs[++this.devIndex]
        this.chunkStart = 0
      }
      if (!d) return this.badLayout()
      dev = d.id
      n = d.name === 'vmstate' ? e.count : Math.min(SLOTS_PER_EXTENT, clusterCount(d.size) - this.chunkStart)
      if (e.count !== n) return this.badLayout()
      this.judgePadding(e.blockCount > 0, this.pads ? this.padStart : offset)
      if (!this.layoutOk) return
    }
    for (let i = 0; i < n; i++) {
      this.clusterNums[i] = this.chunkStart + i
      this.devIds[i] = dev
    }
    // Without the md5: decode has checked raw's, so equal bytes have equal md5s.
    ExtentHeader.encode(this.scratch, 0, raw.subarray(8, 24), n, e.masks, this.devIds, this.clusterNums, false)
    this.scratch.set(raw.subarray(EXTENT_MD5_OFFSET, EXTENT_MD5_OFFSET + 16), EXTENT_MD5_OFFSET)
    if (!this.scratch.equals(raw)) return this.badLayout()
    if (n > 0) {
      this.listed = true
      this.chunkStart += n
      const d = this.devs[this.devIndex]!
      if (d.name === 'vmstate' ? n < SLOTS_PER_EXTENT : this.chunkStart >= clusterCount(d.size)) {
        this.devIndex++
        this.chunkStart = 0
      }
    }
  }

  /**
   * The empty extents before an extent that lists clusters (starting at
   * `start`) must be none (packed), or exactly the aligned form's padding:
   * before an extent that stores blocks, as many as put them at a multiple of
   * 4 KiB; before one that stores none, none.
   */
  private judgePadding(stores: boolean, start: number): void {
    if (this.pads !== (stores ? alignPadding(start) : 0)) this.alignedOk = false
    if (this.pads !== 0) this.packedOk = false
    this.pads = 0
    if (!this.alignedOk && !this.packedOk) {
      this.layoutOk = false
      this.reasons.push('empty extents are not the padding that puts every data block at a multiple of 4 KiB')
    }
  }

  private badLayout(): void {
    this.layoutOk = false
    this.reasons.push('clusters are not sorted and packed 59 to an extent, device by device')
  }

  cluster(e: ClusterEntry): void {
    this.got = 0
    this.blockZero = true
    const size = this.sizes[e.devId]
    this.verbatim = this.vmstateIds[e.devId] === true
    const end = size === undefined ? CLUSTER_SIZE : size - e.cluster * CLUSTER_SIZE
    // The range, within the stored data, of bytes that lie past the device end
    // inside the block that straddles it.
    this.tailFrom = this.tailEnd = -1
    if (end > 0 && end < CLUSTER_SIZE && end % BLOCK_SIZE !== 0) {
      const straddling = Math.floor(end / BLOCK_SIZE)
      if (e.mask & (1 << straddling)) {
        let stored = 0
        for (let j = 0; j < straddling; j++) if (e.mask & (1 << j)) stored++
        this.tailFrom = stored * BLOCK_SIZE + (end % BLOCK_SIZE)
        this.tailEnd = (stored + 1) * BLOCK_SIZE
      }
    }
  }

  data(chunk: Uint8Array): void {
    this.dataChecked = true
    const b = asBuffer(chunk)
    let pos = 0
    while (pos < b.length) {
      const within = this.got % BLOCK_SIZE
      const take = Math.min(b.length - pos, BLOCK_SIZE - within)
      if (this.blockZero && !isZero(b, pos, pos + take)) this.blockZero = false
      const from = Math.max(this.tailFrom, this.got)
      const to = Math.min(this.tailEnd, this.got + take)
      if (from < to && !this.sawTail && !isZero(b, pos + from - this.got, pos + to - this.got)) {
        this.sawTail = true
        this.reasons.push('a device has non-zero bytes past its end')
      }
      pos += take
      this.got += take
      if (this.got % BLOCK_SIZE === 0) {
        if (this.blockZero && !this.sawZeroBlock && !this.verbatim) {
          this.sawZeroBlock = true
          this.reasons.push('all-zero blocks are stored instead of left out of the mask')
        }
        this.blockZero = true
      }
    }
  }

  end(): void {
    // vmstate streams at the end (one whose last extent was full, or empty ones) end with the archive.
    while (this.devs[this.devIndex]?.name === 'vmstate') this.devIndex++
    if (this.layoutOk && this.devs.length > 0 && this.devIndex < this.devs.length) this.badLayout()
    if (!this.layoutOk) return
    // An archive that lists no cluster (no devices, or only empty vmstate
    // streams) is the header plus exactly one empty extent; any other ends
    // with an extent that lists clusters.
    const nothingToList = this.devs.length === 0 || this.streamsOnly
    if (this.listed ? this.pads > 0 : !nothingToList || this.pads !== 1) this.badLayout()
  }
}
