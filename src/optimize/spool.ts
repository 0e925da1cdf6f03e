// A pipe or a compressed file cannot be read out of order, so its plain
// stream is copied to a temp file while it is parsed; the optimizer then
// reads clusters from there. Needs free space equal to the uncompressed
// archive in the spool directory.

import { open, type FileHandle } from 'node:fs/promises'
import { fromSystemError } from '../errors.js'
import { PositionalFile } from '../input/positional-file.js'
import { removeFile, trackFile } from '../temp-files.js'

export class Spool {
  size = 0
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
  ) {}

  static async create(path: string): Promise<Spool> {
    trackFile(path)
    try {
      return new Spool(path, await open(path, 'wx+', 0o600))
    } catch (e) {
      removeFile(path)
      throw fromSystemError(e, `cannot create spool file ${path}`)
    }
  }

  async append(chunk: Uint8Array): Promise<void> {
    try {
      let off = 0
      while (off < chunk.length) off += (await this.fh.write(chunk, off, chunk.length - off, this.size + off)).bytesWritten
    } catch (e) {
      throw fromSystemError(e, `cannot write spool file ${this.path}`)
    }
    this.size += chunk.length
  }

  /** The spooled bytes, for positional reads. */
  async reader(): Promise<PositionalFile> {
    return PositionalFile.open(this.path)
  }

  async remove(): Promise<void> {
    await this.fh.close().catch(() => undefined)
    removeFile(this.path)
  }
}

