// The vma-opt command line. buildCli() returns a yargs parser that tests can
// drive in-process; main() is what bin/vma-opt runs.

import yargs, { type Argv } from 'yargs'
import { EXIT_SIGPIPE, EXIT_USAGE } from '../util/errors.js'
import { cleanupNow, onInterruptReport } from '../util/temp-files.js'
import { exitWhenDone } from '../util/exit-when-done.js'
import { processIO, type CliIO, type CommandResult } from './cli-io.js'
import { applyCommand } from './commands/apply.js'
import { backupsCommand } from './commands/backups.js'
import { rebuildCommand } from './commands/rebuild.js'
import { catCommand } from './commands/cat.js'
import { compareCommand } from './commands/compare.js'
import { diffCommand } from './commands/diff.js'
import { hookCommand } from './commands/hook.js'
import { duCommand } from './commands/du.js'
import { shareCommand } from './commands/share.js'
import { infoCommand } from './commands/info.js'
import { optimizeCommand } from './commands/optimize.js'
import { packCommand } from './commands/pack.js'
import { serveCommand } from './commands/serve.js'
import { unpackCommand } from './commands/unpack.js'
import { verifyCommand } from './commands/verify.js'
import { lsCommand } from './commands/ls.js'
import { getCommand } from './commands/get.js'
import { reportError } from './report-error.js'

class UsageError extends Error {}

// yargs-parser reads a lone "-" as an option with no name, but "-" is how
// users say stdin (or stdout). It is swapped for this token before parsing
// and swapped back in a middleware before any handler runs.
const DASH = '\u0001-'

/** Options and array positionals that keep every value; any other option given twice keeps the last, as in most Unix tools. */
const REPEATABLE = new Set(['_', 'device', 'config', 'disk', 'rest', 'more', 'deltas', 'share-with', 'shareWith', 'paths', 'files'])

function restoreDash(argv: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(argv)) {
    if (v === DASH) argv[k] = '-'
    else if (Array.isArray(v)) {
      const mapped = v.map(x => (x === DASH ? '-' : x))
      argv[k] = REPEATABLE.has(k) ? mapped : mapped[mapped.length - 1]
    }
  }
}

export function buildCli(io: CliIO, result: CommandResult): Argv {
  return yargs()
    .scriptName('vma-opt')
    .usage('$0 <command> [options]\n\nMake Proxmox VMA backups deduplicate, and check, list and take them apart.')
    .command(infoCommand(io, result))
    .command(optimizeCommand(io, result))
    .command(verifyCommand(io, result))
    .command(unpackCommand(io, result))
    .command(catCommand(io, result))
    .command(packCommand(io, result))
    .command(compareCommand(io, result))
    .command(serveCommand(io, result))
    .command(diffCommand(io, result))
    .command(applyCommand(io, result))
    .command(hookCommand(io, result))
    .command(duCommand(io, result))
    .command(shareCommand(io, result))
    .command(backupsCommand(io, result))
    .command(rebuildCommand(io, result))
    .command(lsCommand(io, result))
    .command(getCommand(io, result))
    .middleware(restoreDash, true)
    .demandCommand(1, 'Name a command.')
    .strict()
    .exitProcess(false)
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(100, process.stdout.columns ?? 80))
    .epilogue('Exit status: 0 ok, 1 invalid or damaged archive, 2 usage error, 3 I/O or environment problem, 4 internal error.\nDocs: spec/cli.md')
    .fail((msg, err) => {
      if (err) throw err
      throw new UsageError(msg)
    })
}

/** Runs one command line and returns the exit status. */
export async function runCli(argv: string[], io: CliIO = processIO()): Promise<number> {
  const result: CommandResult = { exitCode: 0 }
  const cli = buildCli(io, result)
  try {
    let helpText = ''
    await cli.parseAsync(
      argv.map(a => (a === '-' ? DASH : a)),
      {},
      (err, _argv, output) => {
        if (output && !err) helpText = output
        if (err && !(err instanceof UsageError) && !output) throw err
        if (err) throw new UsageError(err.message)
      },
    )
    if (helpText) io.stdout.write(helpText + '\n')
    return result.exitCode
  } catch (e) {
    // yargs throws its own YError, not through .fail(), for a missing option
    // value and for an error in a coerce function (integerOption's check).
    if (e instanceof UsageError || (e instanceof Error && e.name === 'YError')) {
      io.stderr.write(`vma-opt: ${e.message}\nTry 'vma-opt --help'.\n`)
      return EXIT_USAGE
    }
    return reportError(io, e)
  }
}

export async function main(): Promise<void> {
  // A reader that goes away (`vma-opt cat ... | head`) ends us quietly, the
  // way SIGPIPE ends other Unix tools: no message, status 141.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') return
    cleanupNow()
    process.exit(EXIT_SIGPIPE)
  })
  // Ctrl-C (or a kill) says what it cleaned up, so nobody goes looking for
  // half-written files; stderr to a terminal or pipe is written synchronously.
  onInterruptReport((sig, all) => {
    // A lock's claim file (util/file-lock) goes too, but it is no unfinished output.
    const removed = all.filter(f => !f.endsWith('.lock'))
    const what = removed.length === 0 ? 'no unfinished files were left' : `removed ${removed.length === 1 ? 'the unfinished file' : `${removed.length} unfinished files`} ${removed.join(', ')}`
    process.stderr.write(`\nvma-opt: interrupted by ${sig}; ${what}\n`)
  })
  await exitWhenDone(await runCli(process.argv.slice(2)))
}
