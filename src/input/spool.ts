// A pipe or a compressed file cannot be read out of order, so its plain
// stream is first written to a temp file (a decompressor writes into it
// directly); commands then read that like any plain archive. Needs free space
// equal to the uncompressed archive in the spool directory.

import { open, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { fromSystemError } from '../util/errors.js'
import { removeFile, trackFile } from '../util/temp-files.js'
import { sweepStaleTemps } from '../util/temp-names.js'

export class Spool {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
  ) {}

  static async create(path: string): Promise<Spool> {
    sweepStaleTemps(dirname(path)) // what killed runs left here
    trackFile(path)
    try {
      return new Spool(path, await open(path, 'wx+', 0o600))
    } catch (e) {
      removeFile(path)
      throw fromSystemError(e, `cannot create spool file ${path}`)
    }
  }

  get fd(): number {
    return this.fh.fd
  }

  async remove(): Promise<void> {
    await this.fh.close().catch(() => undefined)
    removeFile(this.path)
  }
}
