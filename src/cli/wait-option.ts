// --wait, for the commands that write a file (optimize, pack, apply, diff):
// the file is locked for the whole run (util/file-lock); another run on it
// exits 1 at once, or with --wait waits, saying once on stderr whom for.

import type { LockOptions } from '../util/file-lock.js'
import type { CliIO } from './cli-io.js'

export const WAIT_OPTION = {
  type: 'boolean',
  describe: 'when another vma-opt run is writing the same file, wait for it to finish instead of exiting 1',
} as const

export function lockOptionsFrom(args: { wait?: boolean; quiet?: boolean }, io: CliIO): LockOptions {
  return { wait: !!args.wait, onWait: args.quiet ? undefined : line => io.stderr.write(line + '\n') }
}
