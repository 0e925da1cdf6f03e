import type { Argv } from 'yargs'
import { command } from '../command.js'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { CliIO, CommandResult } from '../cli-io.js'
import { humanBytes } from '../../util/human.js'
import { VmaError, fromSystemError } from '../../util/errors.js'
import type { FileUsage, UsageTotal } from '../../share/disk-usage.js'

/** What counts as an archive in a directory: vzdump's names end so (plain or compressed; deltas too). */
const ARCHIVE = /\.(vma|vma-delta)(\.(zst|gz|lzo))?$/

export function duCommand(io: CliIO, result: CommandResult) {
  return command({
    command: 'du <paths..>',
    describe: 'Disk space of archives on a filesystem that shares blocks: per archive its size, bytes shared with others, bytes it alone holds (what deleting it frees), and the total',
    builder: (y: Argv) =>
      y
        .positional('paths', { type: 'string', array: true, demandOption: true, describe: 'archives, or a directory (its archives, not recursive)' })
        .option('json', { type: 'boolean', describe: 'print a JSON array of {file, size, shared, exclusive}' })
        .example('$0 du /var/lib/vz/dump', ''),
    handler: async args => {
      const files = await expand(args.paths)
      const { diskUsage } = await import('../../share/disk-usage.js') // loaded when used: start-up stays short
      const r = await diskUsage(files)
      io.stdout.write(args.json ? JSON.stringify(r.files, null, 2) + '\n' : duText(r.files, r.total))
      result.exitCode = 0
    },
  })
}

/** Files as given; a directory stands for its archives, sorted by name. */
async function expand(paths: string[]): Promise<string[]> {
  const out: string[] = []
  for (const p of paths) {
    const s = await stat(p).catch(e => {
      throw fromSystemError(e, `cannot read ${p}`)
    })
    if (!s.isDirectory()) {
      out.push(p)
      continue
    }
    const names = (await readdir(p)).filter(n => ARCHIVE.test(n)).sort()
    for (const n of names) if ((await stat(join(p, n))).isFile()) out.push(join(p, n))
  }
  if (!out.length) throw new VmaError('VMA_USAGE', -1, `no archive in ${paths.join(', ')}`)
  return out
}

function duText(files: FileUsage[], total: UsageTotal): string {
  const w = (s: string) => s.padStart(10)
  const lines = [`${w('size')}  ${w('shared')}  ${w('exclusive')}  file`]
  for (const f of files) lines.push(`${w(humanBytes(f.size))}  ${w(humanBytes(f.shared))}  ${w(humanBytes(f.exclusive))}  ${f.file}`)
  lines.push(
    `total: ${total.files} archive${total.files === 1 ? '' : 's'}, ${humanBytes(total.size)} of archives in ${humanBytes(total.onDisk)} on disk (shared blocks counted once: ${humanBytes(total.shared)})`,
  )
  return lines.join('\n') + '\n'
}
