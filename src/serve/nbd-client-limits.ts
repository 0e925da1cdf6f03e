// How long a client may hold one of the server's connections without doing
// anything useful. Three limits, as qemu-nbd and nbdkit learned to set them
// after clients that hold connections for ever (CVE-2024-7409):
//
// * the handshake must be over within HANDSHAKE_MS of the accept, however
//   the client spaces its bytes (an absolute deadline: a limit restarted by
//   every byte lets a client that sends one byte in a while stay for ever);
// * a connected client that completes no request for `idleMs` (0: no limit)
//   while nothing of its is in flight is idle, and dropped;
// * a client whose requests are in flight or whose replies wait unsent, and
//   that reads nothing of them for STALL_MS (or `idleMs` if shorter), holds
//   the server's buffers: dropped whatever `idleMs` says.
//
// The clock is touched by each request received and each reply written out.

export const HANDSHAKE_MS = 60_000
export const DEFAULT_IDLE_MS = 300_000
export const STALL_MS = 120_000

export interface ClientLimits {
  handshakeMs: number
  /** 0: idle clients stay. */
  idleMs: number
}

export class ClientWatchdog {
  private last = Date.now()
  private readonly timer: NodeJS.Timeout
  private phase: 'handshake' | 'connected' = 'handshake'
  private readonly accepted = Date.now()

  /**
   * `busy()` says whether the client has work in flight or replies unsent;
   * `drop(why)` is called once, when a limit is passed.
   */
  constructor(
    private readonly limits: ClientLimits,
    private readonly busy: () => boolean,
    drop: (why: string) => void,
  ) {
    const tick = Math.max(50, Math.min(1000, limits.handshakeMs / 4, limits.idleMs > 0 ? limits.idleMs / 4 : Infinity))
    this.timer = setInterval(() => {
      const why = this.expired(Date.now())
      if (why) {
        this.stop()
        drop(why)
      }
    }, tick)
    this.timer.unref()
  }

  /** The handshake is over: from now on the idle and stall limits apply. */
  connected(): void {
    this.phase = 'connected'
    this.touch()
  }

  touch(): void {
    this.last = Date.now()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  private expired(now: number): string | undefined {
    const s = (ms: number) => `${Math.round(ms / 100) / 10} s`
    if (this.phase === 'handshake') {
      return now - this.accepted >= this.limits.handshakeMs ? `the handshake was not over ${s(this.limits.handshakeMs)} after it connected` : undefined
    }
    const quiet = now - this.last
    if (this.busy()) {
      const stall = this.limits.idleMs > 0 ? Math.min(STALL_MS, this.limits.idleMs) : STALL_MS
      return quiet >= stall ? `it read none of its replies for ${s(quiet)}` : undefined
    }
    return this.limits.idleMs > 0 && quiet >= this.limits.idleMs ? `idle for ${s(quiet)} (--idle-timeout)` : undefined
  }
}
