// A claim must appear with its text: a run that finds another's claim reads
// it to say who holds the file. CI once caught a claim between its creation
// and its write (the message said "PID N: vma-opt" without the command).
// Here every write made while a claim is taken looks for a claim already
// visible but still empty.

import t from 'tap'
import fs from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import { join } from 'node:path'
import { lockFile } from '../src/util/file-lock.js'

t.test('a claim is never visible before its text is in it', async t => {
  const dir = t.testdir({ 'a.vma': 'archive' })
  const target = join(dir, 'a.vma')
  const seen: string[] = []
  const realWrite = fs.writeSync
  // file-lock imports writeSync by name; syncBuiltinESMExports makes that binding this function.
  fs.writeSync = ((...args: Parameters<typeof realWrite>) => {
    for (const name of fs.readdirSync(dir)) if (name.endsWith('.lock')) seen.push(`${name}: ${JSON.stringify(fs.readFileSync(join(dir, name), 'utf8'))}`)
    return (realWrite as (...a: unknown[]) => number)(...args)
  }) as typeof realWrite
  syncBuiltinESMExports()
  t.teardown(() => {
    fs.writeSync = realWrite
    syncBuiltinESMExports()
  })
  const lock = await lockFile(target)
  t.same(seen, [], 'no claim was visible while its text was being written')
  const claims = fs.readdirSync(dir).filter(n => n.endsWith('.lock'))
  t.equal(claims.length, 1, 'one claim')
  t.match(fs.readFileSync(join(dir, claims[0]!), 'utf8'), new RegExp(`^${process.pid}\\n.+\\n.+\\n$`), 'it holds PID, command and host')
  t.same(
    fs.readdirSync(dir).filter(n => n !== 'a.vma' && !n.endsWith('.lock')),
    [],
    'no draft is left beside it',
  )
  lock.release()
  t.same(fs.readdirSync(dir), ['a.vma'], 'released: nothing left')
})
