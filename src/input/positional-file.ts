import { close, fstat, open, read, readSync, type Stats } from 'node:fs'
import { promisify } from 'node:util'
import { fromSystemError } from '../util/errors.js'

const readP = promisify(read)
const openP = promisify(open)
const closeP = promisify(close)
const fstatP = promisify(fstat)

/** A file read with pread(2): many readers, no shared file position. */
export class PositionalFile {
  private closed = false

  private constructor(
    readonly fd: number,
    readonly size: number,
    readonly label: string,
    private readonly owned: boolean,
  ) {}

  static async open(path: string, label = path): Promise<PositionalFile> {
    let fd: number
    try {
      fd = await openP(path, 'r')
    } catch (e) {
      throw fromSystemError(e, `cannot open ${label}`)
    }
    const st = await fstatP(fd)
    if (st.isDirectory()) {
      await closeP(fd)
      throw fromSystemError(Object.assign(new Error(), { code: 'EISDIR' }), `cannot read ${label}`)
    }
    return new PositionalFile(fd, st.isFile() ? st.size : -1, label, true)
  }

  /** Wraps an fd we do not own (stdin redirected from a file). */
  static fromFd(fd: number, st: Stats, label: string): PositionalFile {
    return new PositionalFile(fd, st.size, label, false)
  }

  get seekable(): boolean {
    return this.size >= 0
  }

  /** Reads up to `len` bytes at `pos`; returns the count (short only at EOF). */
  async read(buf: Uint8Array, off: number, len: number, pos: number): Promise<number> {
    let done = 0
    while (done < len) {
      let n: number
      try {
        n = (await readP(this.fd, buf, off + done, len - done, pos + done)).bytesRead
      } catch (e) {
        throw fromSystemError(e, `cannot read ${this.label}`)
      }
      if (n === 0) break
      done += n
    }
    return done
  }

  /**
   * The same, synchronously: for chains of small reads where each depends on
   * the last (extent headers), a thread-pool round trip costs more than the read.
   */
  readSync(buf: Uint8Array, off: number, len: number, pos: number): number {
    let done = 0
    while (done < len) {
      let n: number
      try {
        n = readSync(this.fd, buf, off + done, len - done, pos + done)
      } catch (e) {
        throw fromSystemError(e, `cannot read ${this.label}`)
      }
      if (n === 0) break
      done += n
    }
    return done
  }

  async close(): Promise<void> {
    if (this.closed || !this.owned) return
    this.closed = true
    await closeP(this.fd).catch(() => undefined)
  }
}
