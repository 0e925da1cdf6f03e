// Entry point of the installed hook (and of bin/vma-opt-hook). Every line
// goes to stdout, which vzdump copies into the task log.
import { runHook } from './vzdump-hook.js'
import { exitWhenDone } from '../util/exit-when-done.js'

const code = await runHook(process.argv.slice(2), process.env, { log: line => process.stdout.write(line + '\n') })
// A hook that hangs blocks the backup job: exit once the work is done.
await exitWhenDone(code)
