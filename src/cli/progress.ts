// Progress goes to stderr, and only when stderr is a terminal: pipes and
// logs stay quiet, as with most Unix tools.

import type { Writable } from 'node:stream'
import { humanBytes } from '../util/human.js'

export interface Progress {
  /** `total` overrides the total given at creation (0 or less: unknown). */
  update(done: number, label?: string, total?: number): void
  done(): void
}

const NONE: Progress = { update() {}, done() {} }

export function makeProgress(stderr: Writable & { isTTY?: boolean }, label: string, total: number, quiet: boolean): Progress {
  if (quiet || !stderr.isTTY) return NONE
  let last = 0
  let shown = false
  return {
    update(done: number, phase?: string, of?: number) {
      const now = Date.now()
      if (now - last < 200) return
      last = now
      shown = true
      const whole = of ?? total
      const pct = whole > 0 ? ` ${Math.min(100, Math.floor((done / whole) * 100))}%` : ''
      stderr.write(`\r\x1b[K${phase ?? label}${pct} ${humanBytes(done)}`)
    },
    done() {
      if (shown) stderr.write('\r\x1b[K')
    },
  }
}
