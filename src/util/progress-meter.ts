// What a progress line says: bytes done of the total, the rate over the
// last few seconds and the time left at that rate. Shared by the terminal
// progress (cli/progress) and the hook's task-log lines, so both say the same.

import { humanBytes } from './human.js'

/** How far back the rate looks: long enough to smooth bursts, short enough to follow a change of pace. */
const WINDOW_MS = 5000
/** Samples kept for the window (a fixed ring: no allocation per update). */
const SLOTS = 32

export class ProgressMeter {
  private readonly at = new Float64Array(SLOTS)
  private readonly done = new Float64Array(SLOTS)
  private head = 0
  private count = 0

  /** Forgets the samples: a new phase has a pace of its own. */
  reset(): void {
    this.head = 0
    this.count = 0
  }

  /**
   * Records `done` bytes at `now` milliseconds. The newest slot stays open
   * (each sample replaces it) until it lies WINDOW_MS / SLOTS after the slot
   * before it, so the ring always spans the whole window however often it is fed.
   */
  sample(done: number, now: number): void {
    if (this.count >= 2) {
      const last = (this.head + SLOTS - 1) % SLOTS
      const before = (this.head + SLOTS - 2) % SLOTS
      if (this.at[last]! - this.at[before]! < WINDOW_MS / SLOTS) {
        this.at[last] = now
        this.done[last] = done
        return
      }
    }
    this.at[this.head] = now
    this.done[this.head] = done
    this.head = (this.head + 1) % SLOTS
    if (this.count < SLOTS) this.count++
  }

  /** Bytes per second over the window, or undefined until there is a second's worth of samples to judge by. */
  rate(): number | undefined {
    if (this.count < 2) return undefined
    const newest = (this.head + SLOTS - 1) % SLOTS
    const tNew = this.at[newest]!
    // The oldest sample still inside the window (or the oldest kept).
    let oldest = (this.head + SLOTS - this.count) % SLOTS
    for (let i = 0; i < this.count - 1; i++) {
      const k = (this.head + SLOTS - this.count + i) % SLOTS
      if (tNew - this.at[k]! <= WINDOW_MS) break
      oldest = (k + 1) % SLOTS
    }
    const span = tNew - this.at[oldest]!
    if (span < 1000 || oldest === newest) return undefined
    return Math.max(0, ((this.done[newest]! - this.done[oldest]!) * 1000) / span)
  }

  /** `phase 1.2 GiB of 2.0 GiB (60%), 145 MiB/s, 6 s left`; parts that are unknown are left out. */
  line(phase: string, done: number, total: number): string {
    const rate = this.rate()
    const parts = [total > 0 ? `${phase} ${humanBytes(done)} of ${humanBytes(total)} (${Math.min(100, Math.floor((done / total) * 100))}%)` : `${phase} ${humanBytes(done)}`]
    if (rate !== undefined) {
      parts.push(`${humanBytes(Math.round(rate))}/s`)
      if (total > 0 && rate > 0 && done < total) parts.push(`${humanDuration((total - done) / rate)} left`)
    }
    return parts.join(', ')
  }
}

/** 45 s, 3 min 20 s, 2 h 05 min: what a person reads at a glance. */
export function humanDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`
}
