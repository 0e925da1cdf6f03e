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

/** Removes a tracked file now (errors ignored: it may never have been created). */
export function removeFile(path: string): void {
  try {
    unlinkSync(path)
  } catch {
    // already gone
  }
  files.delete(path)
}

export function cleanupNow(): void {
  for (const c of children) c.kill('SIGTERM')
  children.clear()
  for (const f of [...files]) removeFile(f)
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
      cleanupNow()
      process.exit(code)
    })
  }
}
