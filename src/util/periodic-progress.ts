// Progress for a log rather than a terminal: vzdump's task log keeps every
// line, so a long run says where it is once a minute (the first line only
// after a minute: short runs stay as quiet as before), with the same words
// as the terminal's line (util/progress-meter).

import { ProgressMeter } from './progress-meter.js'

export type PhaseProgress = (phase: string, done: number, total: number) => void

export function periodicProgress(write: (line: string) => void, everyMs = 60_000, now: () => number = Date.now): PhaseProgress {
  const meter = new ProgressMeter()
  const start = now()
  let last = start
  let phase: string | undefined
  return (next, done, total) => {
    const t = now()
    if (next !== phase) {
      phase = next
      meter.reset()
    }
    meter.sample(done, t)
    if (t - last < everyMs) return
    last = t
    write(meter.line(next, done, total))
  }
}
