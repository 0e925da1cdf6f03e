// Progress goes to stderr, and only when stderr is a terminal: pipes and
// logs stay quiet, as with most Unix tools.

import type { Writable } from 'node:stream'
import { humanBytes } from './format.js'

export interface Progress {
  update(done: number, label?: string): void
  done(): void
}

const NONE: Progress = { update() {}, done() {} }

export function makeProgress(stderr: Writable & { isTTY?: boolean }, label: string, total: number, quiet: boolean): Progress {
  if (quiet || !stderr.isTTY) return NONE
  let last = 0
  let shown = false
  return {
    update(done: number, phase?: string) {
      const now = Date.now()
      if (now - last < 200) return
      last = now
      shown = true
      const pct = total > 0 ? ` ${Math.min(100, Math.floor((done / total) * 100))}%` : ''
      stderr.write(`\r\x1b[K${phase ?? label}${pct} ${humanBytes(done)}`)
    },
    done() {
      if (shown) stderr.write('\r\x1b[K')
    },
  }
}
