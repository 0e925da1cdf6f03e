// A client's read buffers: a few buffers of PIECE_SIZE bytes, made on first
// use and reused for every read of that client. A read larger than a piece
// is streamed through one piece at a time, so what a client can make the
// server hold does not depend on what it asks (a 32 MiB read costs what a
// 256 KiB one does), and 64 clients that never read their replies hold
// 64 * PIECES * PIECE_SIZE bytes at most.

/** Bytes of one piece: larger than what most clients ask per request (the kernel 128 KiB, nbdcopy 256 KiB). */
export const PIECE_SIZE = 256 << 10
/** Pieces per client: two reads served at once, or one read from the disk while the last piece goes out. */
export const PIECES = 2

export class ReadPieces {
  private readonly free: Buffer[] = []
  private made = 0
  private readonly waiting: ((b: Buffer) => void)[] = []

  /** A piece, once one is free (pieces are given back when the socket has written them). */
  take(): Promise<Buffer> {
    const b = this.free.pop()
    if (b) return Promise.resolve(b)
    if (this.made < PIECES) {
      this.made++
      return Promise.resolve(Buffer.alloc(PIECE_SIZE))
    }
    return new Promise(r => this.waiting.push(r))
  }

  give(b: Buffer): void {
    const w = this.waiting.shift()
    if (w) w(b)
    else this.free.push(b)
  }
}
