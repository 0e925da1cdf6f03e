// Buffers that die young but hold their memory outside V8's heap (a
// decoder's output blocks, a pipe's reads) pile up until V8's own heuristics
// collect: the small wrapper objects fill the young generation slowly while
// tens of MB of dead backing stores wait, which is what peak RSS measures
// (a 4 GiB constant disk through fzstd peaked at 117-157 MB by machine
// load). A minor collection every so many bytes frees them while they are
// young, for well under a millisecond each (major ones every 8 MiB doubled
// the CPU time). V8 offers it only behind --expose-gc, set once at first use.
//
// Why at run time: Node documents v8.setFlagsFromString after start-up as
// unsupported, but the public alternative, `node --expose-gc` on the command
// line, cannot reach every way vma-opt runs (bin/vma-opt, the hook wrapper,
// the Debian launcher, and the library inside someone else's process, which
// must not get a global gc() it did not ask for; the function fetched here
// stays private). If V8 refuses, nothing breaks: collections are left to V8
// and only peak RSS grows back. test/node-internals.test.ts checks that each
// threshold crossed really runs one minor collection.

import v8 from 'node:v8'
import vm from 'node:vm'

type Collect = (o: { type: 'minor' | 'major' }) => void
let collect: Collect | null | undefined

function collector(): Collect | null {
  if (collect !== undefined) return collect
  try {
    v8.setFlagsFromString('--expose-gc')
    const gc = vm.runInNewContext('gc') as unknown
    collect = typeof gc === 'function' ? (gc as Collect) : null
  } catch {
    collect = null
  }
  return collect
}

/** Counts bytes of short-lived buffers and runs a minor collection every `every` bytes. */
export class YoungGarbage {
  private since = 0

  constructor(private readonly every: number) {}

  add(bytes: number): void {
    this.since += bytes
    if (this.since < this.every) return
    this.since = 0
    const gc = collector()
    if (!gc) return
    try {
      gc({ type: 'minor' })
    } catch {
      collect = null // a V8 that refuses the option: let it collect on its own
    }
  }
}
