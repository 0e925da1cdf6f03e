// A counting semaphore over bytes: read replies take their buffer's size
// from it before allocating and give it back once the socket has sent them.
// One budget per client and one for the whole server bound the memory that
// clients can make the server hold, whatever they ask and however slowly
// they read.

export class ByteBudget {
  private used = 0
  private readonly waiting: { n: number; go: () => void }[] = []

  constructor(readonly limit: number) {}

  /** Resolves once `n` (at most `limit`) bytes are free; first come, first served. */
  async acquire(n: number): Promise<void> {
    if (this.waiting.length === 0 && this.used + n <= this.limit) {
      this.used += n
      return
    }
    await new Promise<void>(go => this.waiting.push({ n, go }))
  }

  release(n: number): void {
    this.used -= n
    while (this.waiting.length > 0 && this.used + this.waiting[0]!.n <= this.limit) {
      const w = this.waiting.shift()!
      this.used += w.n
      w.go()
    }
  }
}
