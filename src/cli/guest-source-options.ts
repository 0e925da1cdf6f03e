// The archive argument and its spooling option for the commands that read
// inside guest filesystems (ls, get): one declaration, so both take and
// describe them alike.

import type { Argv } from 'yargs'

export function guestSourceOptions<T>(y: Argv<T>) {
  return y
    .positional('src', { type: 'string', describe: 'archive (plain, optimized, .zst, .gz, .lzo; - for stdin) or a .vma-delta beside its chain', demandOption: true })
    .option('tmpdir', { type: 'string', describe: 'where a pipe or compressed input is spooled (default: the system temp dir)' })
}
