// Two places lean on Node beyond its documented API, because no public API
// reaches (see the comments in src/input/child-output.ts and
// src/util/young-garbage.ts). These tests pin exactly what they rely on, so
// that a Node upgrade that takes it away fails here, by name, instead of
// silently bringing back the memory and CPU the benchmarks measured:
// a child's stdout pipe carries a handle that net.Socket can adopt and read
// into a buffer of ours; and V8's minor collection can be reached at run time.

import t from 'tap'
import { spawn } from 'node:child_process'
import { PerformanceObserver, constants } from 'node:perf_hooks'
import { childOutput } from '../src/input/child-output.js'
import { YoungGarbage } from '../src/util/young-garbage.js'

t.test("a child's stdout pipe has the handle childOutput moves into a socket of its own", async t => {
  const child = spawn(process.execPath, ['-e', 'process.stdout.write(Buffer.alloc(3 << 20, 7))'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const handle = (child.stdout as unknown as { _handle?: { useUserBuffer?: unknown } | null })._handle
  t.ok(handle, 'the pipe stream has a _handle')
  t.equal(typeof handle?.useUserBuffer, 'function', 'which can read into a user buffer (what net.Socket onread uses)')
  const buffers = new Set<ArrayBufferLike>()
  let bytes = 0
  let sevens = true
  for await (const c of childOutput(child.stdout)) {
    buffers.add(c.buffer)
    bytes += c.length
    if (sevens && c.some(b => b !== 7)) sevens = false
  }
  t.equal(bytes, 3 << 20, 'every byte arrives')
  t.ok(sevens, 'intact')
  t.equal(buffers.size, 1, 'in one reused buffer: the adopted handle is read through onread, not as a stream')
})

t.test('YoungGarbage reaches V8: each threshold crossed runs one minor collection', async t => {
  const minors: number[] = []
  const obs = new PerformanceObserver(list => {
    for (const e of list.getEntries()) if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minors.push(e.startTime)
  })
  obs.observe({ entryTypes: ['gc'] })
  const g = new YoungGarbage(1000)
  // No allocation to speak of here: without the collector V8 would have no reason to collect 40 times.
  for (let i = 0; i < 40; i++) g.add(1000)
  await new Promise(r => setTimeout(r, 200))
  obs.disconnect()
  t.ok(minors.length >= 40, `${minors.length} minor collections for 40 thresholds crossed`)
})
