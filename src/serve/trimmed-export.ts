// `serve --trim`: a disk as `optimize --trim` would store it. Reads go to
// the archive's export and then through the trim plan's zeroer, so the bytes
// the guest's filesystems declare free read as zeros. The zero/data map is
// the archive's own: freed blocks are reported as data that reads as zeros,
// which every client handles (a hole is a hint, never a promise it relies on).

import type { ClusterZeroer } from '../trim/zeroer.js'
import type { Extent, ExportedDevice } from './device-export.js'

export class TrimmedDeviceExport implements ExportedDevice {
  constructor(
    private readonly inner: ExportedDevice,
    private readonly zeroer: ClusterZeroer,
  ) {}

  get name(): string {
    return this.inner.name
  }

  get size(): number {
    return this.inner.size
  }

  async read(offset: number, buf: Buffer): Promise<void> {
    await this.inner.read(offset, buf)
    this.zeroer.apply(offset, buf)
  }

  extents(offset: number, length: number, maxExtents: number): Extent[] {
    return this.inner.extents(offset, length, maxExtents)
  }
}
