// A raw disk image as a TrimDisk (pack --trim). The device may be longer
// than the file (padded up to a 512-byte multiple): those bytes read as zeros.

import type { PositionalFile } from '../../input/positional-file.js'
import type { TrimDisk } from './disk.js'

export class ImageDisk implements TrimDisk {
  constructor(
    readonly name: string,
    readonly size: number,
    private readonly file: PositionalFile,
  ) {}

  async read(buf: Buffer, offset: number): Promise<void> {
    if (offset < 0 || offset + buf.length > this.size) throw new Error(`trim read of ${buf.length} bytes at ${offset} is outside ${this.name} (${this.size} bytes)`)
    let got = 0
    while (got < buf.length) {
      const n = await this.file.read(buf, got, buf.length - got, offset + got)
      if (n === 0) break
      got += n
    }
    buf.fill(0, got)
  }
}
