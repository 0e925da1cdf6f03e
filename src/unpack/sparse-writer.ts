// Writes one raw image sparsely: only non-zero blocks are written and the
// file is given its size at the end, so holes stay holes. Blocks that continue the
// previous one are gathered into one run and written with a single call.
// Writes are synchronous: the parser's sinks are synchronous, and the
// driver yields to the event loop between input chunks, so signals are still
// handled promptly.

import { closeSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs'
import { fromSystemError } from '../util/errors.js'

export class SparseWriter {
  private readonly fd: number
  private run: Buffer | undefined
  private runOff = 0
  private runLen = 0
  private closed = false
  /** Bytes written (non-zero blocks). */
  written = 0

  constructor(
    readonly path: string,
    readonly size: number,
    private readonly runSize: number,
    mode = 0o600,
  ) {
    try {
      this.fd = openSync(path, 'wx', mode)
    } catch (e) {
      throw fromSystemError(e, `cannot create ${path}`)
    }
  }

  /** Writes `len` bytes of `src` from `start` at device offset `off`. */
  write(off: number, src: Uint8Array, start: number, len: number): void {
    if (this.runLen > 0 && off === this.runOff + this.runLen && this.runLen + len <= this.runSize) {
      this.run!.set(src.subarray(start, start + len), this.runLen)
      this.runLen += len
      return
    }
    this.flush()
    this.run ??= Buffer.allocUnsafe(this.runSize) // only for devices that get data
    this.run.set(src.subarray(start, start + len), 0)
    this.runOff = off
    this.runLen = len
  }

  flush(): void {
    if (this.runLen === 0) return
    try {
      let done = 0
      while (done < this.runLen) done += writeSync(this.fd, this.run!, done, this.runLen - done, this.runOff + done)
    } catch (e) {
      throw fromSystemError(e, `cannot write ${this.path}`)
    }
    this.written += this.runLen
    this.runLen = 0
  }

  /**
   * Flushes, gives the file its size, fsyncs and closes. Called only once the
   * archive proved complete: a damaged header's device size (larger than
   * the filesystem allows, EFBIG) is refused as the damage it is (missing
   * clusters, exit 1) before the file is ever sized.
   */
  finish(): void {
    this.flush()
    try {
      if (this.size > 0) ftruncateSync(this.fd, this.size) // 0: vmstate, exactly what was written
      fsyncSync(this.fd)
    } catch (e) {
      throw fromSystemError(e, `cannot write ${this.path}`)
    }
    this.close()
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    try {
      closeSync(this.fd)
    } catch {
      // already unusable; the file is removed by the caller on failure
    }
  }
}
