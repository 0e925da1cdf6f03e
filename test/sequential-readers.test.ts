// readFile reads ahead: while the caller works on one buffer, the next
// pread(2) is in flight. A caller that stops early (a header peek, a parse
// error) and then closes the file must not leave that read running: on a
// closed descriptor it failed as an unhandled rejection (EBADF, a stack
// trace), on a reused one it would read another file.

import t from 'tap'
import { readFile } from '../src/input/sequential-readers.js'
import type { PositionalFile } from '../src/input/positional-file.js'

t.test('stopping early waits for the read in flight before the file may be closed', async t => {
  const events: string[] = []
  let reads = 0
  const file = {
    // Every read takes 50 ms and fills what it is asked for.
    read: (_buf: Uint8Array, _off: number, len: number) =>
      new Promise<number>(resolve => {
        const n = ++reads
        events.push(`read ${n} starts`)
        setTimeout(() => {
          events.push(`read ${n} ends`)
          resolve(len)
        }, 50)
      }),
  } as unknown as PositionalFile
  const it = readFile(file, 4096)
  const first = await it.next()
  t.equal(first.value?.length, 4096)
  t.same(events, ['read 1 starts', 'read 1 ends', 'read 2 starts'], 'the next read is in flight')
  await it.return(undefined)
  events.push('closed')
  t.same(events, ['read 1 starts', 'read 1 ends', 'read 2 starts', 'read 2 ends', 'closed'], 'it ended before the caller could close')
})

t.test("a read in flight that fails after an early stop is nobody's error", async t => {
  let reads = 0
  const file = {
    read: (_buf: Uint8Array, _off: number, len: number) => (++reads === 1 ? Promise.resolve(len) : new Promise<number>((_, reject) => setTimeout(() => reject(new Error('EBADF')), 20))),
  } as unknown as PositionalFile
  const unhandled: unknown[] = []
  const onUnhandled = (e: unknown) => unhandled.push(e)
  process.on('unhandledRejection', onUnhandled)
  const it = readFile(file, 4096)
  await it.next()
  await it.return(undefined)
  await new Promise(resolve => setTimeout(resolve, 60))
  process.off('unhandledRejection', onUnhandled)
  t.same(unhandled, [], 'no unhandled rejection')
})
