// A finished command exits, whatever is still open. Waiting for Node's event
// loop to drain would let a decompressor that ignores being stopped (or any
// handle a failure left behind) keep a vzdump job or a script waiting for
// ever: the fuzzer once saw `info --json` print its error and then not exit.
// What we wrote goes out first; children are stopped (and setpriv's
// --pdeathsig kills any that linger once we are gone).

import { cleanupNow } from './temp-files.js'

/** Resolves once everything written to `s` so far has been handed to the OS (or `s` has failed). */
function flushed(s: NodeJS.WriteStream): Promise<void> {
  return new Promise(resolve => {
    if (s.destroyed || s.writableEnded) return resolve()
    s.write('', () => resolve())
  })
}

export async function exitWhenDone(code: number): Promise<never> {
  process.exitCode = code
  await Promise.all([flushed(process.stdout), flushed(process.stderr)])
  cleanupNow()
  process.exit(code)
}
