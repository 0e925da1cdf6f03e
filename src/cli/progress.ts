// Progress goes to stderr, and only when stderr is a terminal: pipes and
// logs stay quiet, as with most Unix tools. Each line says the phase, bytes
// done of the total, the rate and the time left (util/progress-meter).

import type { Writable } from 'node:stream'
import { ProgressMeter } from '../util/progress-meter.js'

export interface Progress {
  /** `total` overrides the total given at creation (0 or less: unknown). */
  update(done: number, label?: string, total?: number): void
  done(): void
}

const NONE: Progress = { update() {}, done() {} }

/** A terminal is redrawn at most this often: more is flicker, and costs the hot loops a syscall each. */
const REDRAW_MS = 200

export function makeProgress(stderr: Writable & { isTTY?: boolean }, label: string, total: number, quiet: boolean, now: () => number = Date.now): Progress {
  if (quiet || !stderr.isTTY) return NONE
  const meter = new ProgressMeter()
  let last = -Infinity
  let shown = false
  let phase: string | undefined
  return {
    update(done: number, next?: string, of?: number) {
      const t = now()
      const name = next ?? label
      if (name !== phase) {
        phase = name
        meter.reset()
        last = -Infinity // a new phase is shown at once
      }
      meter.sample(done, t)
      if (t - last < REDRAW_MS) return
      last = t
      shown = true
      stderr.write(`\r\x1b[K${meter.line(name, done, of ?? total)}`)
    },
    done() {
      if (shown) stderr.write('\r\x1b[K')
    },
  }
}
