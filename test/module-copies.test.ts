// One process, two copies of vma-opt's modules: what two installs under
// node_modules give, and what a test's mockImport gives (it loads fresh
// copies of everything below the module it mocks; the hook's tests swap in
// a damaged optimize that way). A lock is the process's and an error is a
// VmaError whichever copy made it: before, the second copy took the first's
// claim for another run's (VMA_LOCKED on the hook's own archive) and turned
// the first's VmaError into an "internal error" with the wrong exit code.

import t from 'tap'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import * as lockA from '../src/util/file-lock.js'
import * as errorsA from '../src/util/errors.js'

/** A second, independent instance of a module of dist/src (a query string makes Node load it again). */
async function copyOf<T>(rel: string): Promise<T> {
  return (await import(`${new URL(rel, import.meta.url).href}?copy=${Math.random()}`)) as T
}

t.test('a lock taken by one copy is held once by the other', async t => {
  const lockB = await copyOf<typeof lockA>('../src/util/file-lock.js')
  t.not(lockB.lockFile, lockA.lockFile, 'two instances of the module')
  const dir = t.testdir({ 'a.vma': 'x' })
  const target = join(dir, 'a.vma')
  const outer = await lockA.lockFile(target)
  const inner = await lockB.lockFile(target) // the hook (copy A) calls optimize (copy B)
  t.ok(outer.held && inner.held, 'both hold')
  t.equal(readdirSync(dir).filter(f => f.endsWith('.lock')).length, 1, 'one claim file')
  inner.release()
  t.equal(readdirSync(dir).filter(f => f.endsWith('.lock')).length, 1, 'the outer claim stays after the inner release')
  outer.release()
  t.same(readdirSync(dir), ['a.vma'], 'no claim left')
})

t.test('a VmaError of one copy is a VmaError to the other, with its code and exit code', async t => {
  const errorsB = await copyOf<typeof errorsA>('../src/util/errors.js')
  t.not(errorsB.VmaError, errorsA.VmaError, 'two classes')
  const e = new errorsB.VmaError('VMA_DIGEST_MISMATCH', -1, 'the output differs')
  t.ok(e instanceof errorsA.VmaError, 'instanceof across copies')
  t.ok(new errorsA.VmaError('VMA_LOCKED', 5, 'x') instanceof errorsB.VmaError, 'both ways')
  t.equal(errorsA.exitCodeFor((e as InstanceType<typeof errorsA.VmaError>).code), e.exitCode)
  t.notOk(new Error('plain') instanceof errorsA.VmaError, 'a plain Error is not one')
  t.notOk(Object.assign(new Error('look-alike'), { code: 'VMA_IO', name: 'VmaError' }) instanceof errorsA.VmaError, 'nor one that only looks like it')
  t.notOk((null as unknown) instanceof errorsA.VmaError, 'nor null')
})
