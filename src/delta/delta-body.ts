// The extents of a delta, written aside while the archives are compared: the
// header must carry NEW's and BASE's identities, which are known only once
// every cluster has been read, and a compressed output cannot be patched.
// The body is small (only the changed clusters), so copying it behind the
// header costs little, and the archives are read only once.

import { open, type FileHandle } from 'node:fs/promises'
import { fromSystemError } from '../util/errors.js'
import { removeFile, trackFile } from '../util/temp-files.js'
import type { ByteSink } from '../archive/emit.js'

const COPY_CHUNK = 4 << 20

export class DeltaBody implements ByteSink {
  private size = 0

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
  ) {}

  static async create(path: string): Promise<DeltaBody> {
    trackFile(path)
    try {
      return new DeltaBody(path, await open(path, 'wx+', 0o600))
    } catch (e) {
      removeFile(path)
      throw fromSystemError(e, `cannot create ${path}`)
    }
  }

  async write(buf: Uint8Array): Promise<void> {
    try {
      let off = 0
      while (off < buf.length) off += (await this.fh.write(buf, off, buf.length - off, this.size + off)).bytesWritten
    } catch (e) {
      throw fromSystemError(e, `cannot write ${this.path}`)
    }
    this.size += buf.length
  }

  /** Copies everything written so far to `out`. */
  async copyTo(out: ByteSink): Promise<void> {
    const buf = Buffer.allocUnsafe(COPY_CHUNK)
    for (let pos = 0; pos < this.size; ) {
      const { bytesRead } = await this.fh.read(buf, 0, Math.min(COPY_CHUNK, this.size - pos), pos)
      if (bytesRead === 0) throw fromSystemError(new Error('unexpected end of file'), `cannot read ${this.path}`)
      await out.write(buf.subarray(0, bytesRead))
      pos += bytesRead
    }
  }

  async remove(): Promise<void> {
    await this.fh.close().catch(() => undefined)
    removeFile(this.path)
  }
}
