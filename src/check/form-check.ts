// Decides whether an archive is already in vma-opt's optimized form
// (spec/optimized-form.md) by comparing what it reads with what the
// optimizer would write: the header and every extent header byte for byte,
// and, when the data is read too, that no stored block is all zeros and no
// byte past a device end is set.

import { BLOCK_SIZE, CLUSTER_SIZE, SLOTS_PER_EXTENT } from '../format/constants.js'
import { EXTENT_MD5_OFFSET, ExtentHeader } from '../format/extent-header.js'
import { VmaHeader, type VmaDevice } from '../format/header.js'
import { clusterCount } from '../format/cluster-tracker.js'
import { parseUuid } from '../format/uuid.js'
import { OPTIMIZED_UUID } from '../format/constants.js'
import type { ClusterEntry, VmaSink } from '../format/vma-sink.js'
import { asBuffer, isZero } from '../util/zero.js'

/** The uuid of the optimized form. */
export const FIXED_UUID = parseUuid(OPTIMIZED_UUID)

export class FormCheck implements VmaSink {
  /** Why the archive is not in the optimized form (empty when it is). */
  readonly reasons: string[] = []
  fixedUuid = false
  /** Whether stored data was seen, so the block-level rules were checked. */
  dataChecked = false
  private devs: VmaDevice[] = []
  private devIndex = 0
  private chunkStart = 0
  private extents = 0
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
  /** The one empty extent of an archive that lists no cluster was seen. */
  private sawEmpty = false
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

  optimized(keepUuid = false): boolean {
    return this.reasons.length === 0 && (keepUuid || this.fixedUuid)
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

  extent(e: ExtentHeader, _offset: number, raw: Uint8Array): void {
    this.extents++
    if (!this.layoutOk) return
    let n = 0
    let dev = 0
    // Nothing to list (no devices, or only empty vmstate streams): the header plus one empty extent.
    const empty = this.devs.length === 0 || (this.streamsOnly && e.count === 0 && this.extents === 1)
    if (empty || this.sawEmpty) {
      if (this.extents > 1) return this.badLayout()
      this.sawEmpty = true
    } else {
      let d = this.devs[this.devIndex]
      // A vmstate stream has no size bound: it ends (or, empty, never began) where the next device begins.
      while (d?.name === 'vmstate' && e.count > 0 && e.devIds[0] !== d.id) {
        d = this.devs[++this.devIndex]
        this.chunkStart = 0
      }
      if (!d) return this.badLayout()
      dev = d.id
      n = d.name === 'vmstate' ? e.count : Math.min(SLOTS_PER_EXTENT, clusterCount(d.size) - this.chunkStart)
    }
    if (e.count !== n || (n === 0 && !this.sawEmpty)) return this.badLayout()
    for (let i = 0; i < n; i++) {
      this.clusterNums[i] = this.chunkStart + i
      this.devIds[i] = dev
    }
    // Without the md5: decode has checked raw's, so equal bytes have equal md5s.
    ExtentHeader.encode(this.scratch, 0, raw.subarray(8, 24), n, e.masks, this.devIds, this.clusterNums, false)
    this.scratch.set(raw.subarray(EXTENT_MD5_OFFSET, EXTENT_MD5_OFFSET + 16), EXTENT_MD5_OFFSET)
    if (!this.scratch.equals(raw)) return this.badLayout()
    if (!this.sawEmpty) {
      this.chunkStart += n
      const d = this.devs[this.devIndex]!
      if (d.name === 'vmstate' ? n < SLOTS_PER_EXTENT : this.chunkStart >= clusterCount(d.size)) {
        this.devIndex++
        this.chunkStart = 0
      }
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
    if (this.layoutOk && (this.devs.length === 0 || this.streamsOnly) && this.extents === 0) this.badLayout()
  }
}
