import type { Attribute, Run } from './ntfs-attribute.js'
import { plainData, readAttributes } from './ntfs-attribute.js'
import type { NtfsBoot } from './ntfs-boot.js'
import type { MftRecord } from './ntfs-record.js'
import { readMftRecord } from './ntfs-record.js'
import { ensure } from './ntfs-skip.js'
import type { VolumeReader } from '../volume.js'

/** Index of the run holding `vcn` (runs are contiguous from VCN 0), or -1. */
export function findRun(runs: Run[], vcn: number): number {
  let lo = 0
  let hi = runs.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const r = runs[mid]!
    if (vcn < r.vcn) hi = mid - 1
    else if (vcn >= r.vcn + r.length) lo = mid + 1
    else return mid
  }
  return -1
}

/**
 * An NTFS volume opened through its boot sector and the $MFT's own runlist
 * (record 0), so a fragmented MFT is read where it really is.
 */
export class NtfsVolume {
  /** The unnamed $DATA of $MFT (record 0). */
  readonly mft: Attribute & { resident: false }
  readonly records: number

  constructor(
    readonly vol: VolumeReader,
    readonly boot: NtfsBoot,
    mftRecord0: MftRecord,
  ) {
    ensure(mftRecord0.inUse && mftRecord0.baseRecord === 0n, '$MFT record 0 is not an in-use base record')
    const data = plainData(this.attributes(mftRecord0), '$MFT')
    ensure(!data.resident, '$MFT $DATA is resident')
    ensure(data.runs[0]?.lcn === boot.mftLcn, '$MFT runlist does not start at the cluster the boot sector names')
    this.mft = data
    this.records = Math.floor(data.initializedSize / boot.mftRecordSize)
    ensure(this.records > 16, `$MFT holds only ${this.records} records`)
  }

  /** Reads record 0 straight from the boot sector's MFT cluster and opens the volume. */
  static async open(vol: VolumeReader, boot: NtfsBoot): Promise<NtfsVolume> {
    const buf = Buffer.alloc(boot.mftRecordSize)
    await vol.read(buf, boot.mftLcn * boot.clusterSize)
    return new NtfsVolume(vol, boot, readMftRecord(buf, 0))
  }

  attributes(record: MftRecord): Attribute[] {
    return readAttributes(record, this.boot.clusters, this.boot.clusterSize)
  }

  /** MFT record `n`, read through the $MFT runlist, fixups checked. */
  async record(n: number): Promise<MftRecord> {
    ensure(n < this.records, `MFT record ${n} is past the end of $MFT (${this.records} records)`)
    const buf = await this.readStream(this.mft, n * this.boot.mftRecordSize, this.boot.mftRecordSize)
    return readMftRecord(buf, n)
  }

  /** Base record `n` that must be in use and not an extension of another record. */
  async baseRecord(n: number, what: string): Promise<MftRecord> {
    const rec = await this.record(n)
    ensure(rec.inUse, `${what} (MFT record ${n}) is not in use`)
    ensure(rec.baseRecord === 0n, `${what} (MFT record ${n}) is an extension record`)
    return rec
  }

  /**
   * `length` bytes of a stream from byte `offset`: resident value, or clusters
   * through the runlist; holes and bytes past the initialized size read as zeros.
   */
  async readStream(attr: Attribute, offset: number, length: number): Promise<Buffer> {
    if (attr.resident) {
      ensure(offset + length <= attr.value.length, 'read past the end of a resident attribute')
      return Buffer.from(attr.value.subarray(offset, offset + length))
    }
    ensure(offset + length <= attr.allocatedSize, 'read past the end of a non-resident attribute')
    const cs = this.boot.clusterSize
    const out = Buffer.alloc(length)
    const readable = Math.max(0, Math.min(offset + length, attr.initializedSize) - offset)
    for (let done = 0; done < readable; ) {
      const pos = offset + done
      const vcn = Math.floor(pos / cs)
      const i = findRun(attr.runs, vcn)
      ensure(i >= 0, `stream byte ${pos} is not mapped by its runlist`)
      const run = attr.runs[i]!
      const take = Math.min((run.vcn + run.length) * cs - pos, readable - done)
      if (run.lcn !== undefined) await this.vol.read(out.subarray(done, done + take), (run.lcn + vcn - run.vcn) * cs + (pos % cs))
      done += take
    }
    return out
  }
}
