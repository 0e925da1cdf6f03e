// Child processes (decompressors, compressors) must not outlive vma-opt, not
// even when it is killed with SIGKILL and can clean up nothing: an orphaned
// `zstd -d` would go on filling a spool file nobody reads. Each child is
// started through util-linux's `setpriv --pdeathsig KILL`, which asks the
// kernel (prctl PR_SET_PDEATHSIG) to kill it when we die and then execs the
// tool under the same PID. Where setpriv is missing, callers that would let a
// child run on its own (writing into a file) feed it through a pipe instead,
// so it dies of EOF or SIGPIPE once we are gone.

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { findTool } from './find-tool.js'
import { trackChild } from './temp-files.js'

let setpriv: string | undefined | null = null

function pdeathWrapper(): string | undefined {
  if (setpriv === null) setpriv = process.env.VMA_OPT_NO_SETPRIV ? undefined : findTool('setpriv')
  return setpriv
}

/** Whether children are killed by the kernel when vma-opt dies (see above). */
export function childrenDieWithUs(): boolean {
  return pdeathWrapper() !== undefined
}

/** Spawns `tool`, to be killed with us, and tracks it for signal cleanup. */
export function spawnGuarded(tool: string, args: string[], options: SpawnOptions): ChildProcess {
  const wrap = pdeathWrapper()
  const child = wrap ? spawn(wrap, ['--pdeathsig', 'KILL', '--', tool, ...args], options) : spawn(tool, args, options)
  trackChild(child)
  return child
}
