import type { Readable, Writable } from 'node:stream'

/** Where a command reads and writes; tests pass their own. */
export interface CliIO {
  stdout: Writable & { isTTY?: boolean }
  stderr: Writable & { isTTY?: boolean }
  stdin?: Readable
}

export const processIO = (): CliIO => ({ stdout: process.stdout, stderr: process.stderr })

/** Set by a command handler: the process exit status. */
export interface CommandResult {
  exitCode: number
}
