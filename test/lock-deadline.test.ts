// A claim of another host (a crashed node on a shared dump directory) or
// another PID namespace is never stale to us: a run that must not hang (the
// hook, which blocks vzdump's job) waits for it only so long, then gives up
// with VMA_LOCKED naming the claim; the claim file is left to a person.

import t from 'tap'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { lockFile } from '../src/util/file-lock.js'
import { tempPrefixFor } from '../src/util/temp-names.js'

t.test('a foreign claim is waited for at most waitAtMostMs', async t => {
  const dir = t.testdir({ 'a.vma': 'archive' })
  const target = join(dir, 'a.vma')
  // PID 4242 on a host whose hash is not ours: the name alone says whose it is (util/temp-names).
  const claim = join(dir, `${tempPrefixFor(target)}4242-1000-0badc0de-deadbeef-12345678.lock`)
  writeFileSync(claim, '4242\nvma-opt vzdump hook backup-end\nnodeB\n')
  const lines: string[] = []
  const t0 = Date.now()
  await t.rejects(lockFile(target, { wait: true, onWait: l => lines.push(l), waitAtMostMs: 1500 }), { code: 'VMA_LOCKED', message: /PID 4242 on host nodeB.*waited 0 min for it, gave up/ })
  t.ok(Date.now() - t0 >= 1500, 'it did wait first')
  t.equal(lines.length, 1, 'said once that it waits')
  t.ok(existsSync(claim), 'the foreign claim is not ours to remove')
  await t.rejects(lockFile(target), { code: 'VMA_LOCKED' }, 'without wait: at once')
})
