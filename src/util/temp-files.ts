// Temp files and child processes that must not outlive a failed or
// interrupted command. Commands register what they create; on SIGINT or
// SIGTERM everything registered is removed and the process exits with
// 128 + the signal number, as shells expect.

import { unlinkSync } from 'node:fs'
import type { ChildProcess } from 'node:child_process'
import { EXIT_SIGINT, EXIT_SIGTERM } from './errors.js'

const files = new Set<string>()
const children = new Set<ChildProcess>()
let installed = false

export function trackFile(path: string): void {
  files.add(path)
}

export function untrackFile(path: string): void {
  files.delete(path)
}

export function trackChild(child: ChildProcess): void {
  children.add(child)
  child.once('close', () => children.delete(child))
}

/** Removes a tracked file now (errors ignored: it may never have been created); true if it was there. */
export function removeFile(path: string): boolean {
  let removed = false
  try {
    unlinkSync(path)
    removed = true
  } catch {
    // already gone
  }
  files.delete(path)
  return removed
}

/** Stops the children and removes the files; returns the files that were there. */
export function cleanupNow(): string[] {
  for (const c of children) c.kill('SIGTERM')
  children.clear()
  return [...files].filter(f => removeFile(f))
}

/** Told, after the clean-up on a signal, what was removed: the CLI says it in one line (a person who pressed Ctrl-C wants to know). */
let reportInterrupt: ((sig: NodeJS.Signals, removed: string[]) => void) | undefined

export function onInterruptReport(report: (sig: NodeJS.Signals, removed: string[]) => void): void {
  reportInterrupt = report
}

/** Installs the signal handlers once per process (the CLI calls this). */
export function installSignalCleanup(onSignal?: (sig: NodeJS.Signals) => void): void {
  if (installed) return
  installed = true
  for (const [sig, code] of [
    ['SIGINT', EXIT_SIGINT],
    ['SIGTERM', EXIT_SIGTERM],
    ['SIGHUP', 129],
  ] as const) {
    process.on(sig, () => {
      onSignal?.(sig)
      const removed = cleanupNow()
      reportInterrupt?.(sig, removed)
      process.exit(code)
    })
  }
}
