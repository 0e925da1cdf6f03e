// What `ls` and `get` read: an archive (restore/restore-source), or a
// reverse delta read through its chain, found in the delta's directory as
// `rebuild` finds it (delta/chain-for), every cluster from the newest link
// that holds it (delta/chain-export, what `serve BASE DELTA...` exports).
// Here because restore/ and delta/ are one layer and may not import each other.

import { basename } from 'node:path'
import { tmpdir } from 'node:os'
import type { RestoreSource, SourceOptions } from '../restore/restore-source.js'
import type { CliIO } from './cli-io.js'
import { makeProgress } from './progress.js'

/** What ls and get open first: the source, with its notes on stderr (not with -q) and progress while it is indexed or spooled. */
export async function openForCommand(io: CliIO, args: { src: string; tmpdir?: string; quiet?: boolean }): Promise<{ src: RestoreSource; log: (m: string) => void }> {
  const log = (m: string) => {
    if (!args.quiet) io.stderr.write(`vma-opt: ${m}\n`)
  }
  const progress = makeProgress(io.stderr, 'reading', 0, !!args.quiet)
  try {
    return { src: await openRestoreInput(args.src, { stdin: io.stdin, tmpdir: args.tmpdir, log, progress: n => progress.update(n) }), log }
  } finally {
    progress.done()
  }
}

export async function openRestoreInput(src: string, o: SourceOptions): Promise<RestoreSource> {
  const { DELTA } = await import('../delta/backup-chains.js')
  if (src === '-' || !DELTA.test(basename(src))) return (await import('../restore/restore-source.js')).openRestoreSource(src, o)
  const log = o.log ?? (() => undefined)
  const { chainFor } = await import('../delta/chain-for.js')
  const { openChain } = await import('../delta/open-chain.js')
  const { ChainDeviceExport } = await import('../delta/chain-export.js')
  const c = await chainFor(src)
  log(`${src}: a reverse delta, read through ${c.base} and ${c.deltas.length} delta${c.deltas.length === 1 ? '' : 's'}`)
  const chain = await openChain(c.base, c.deltas, { spoolDir: o.tmpdir ?? tmpdir(), progress: o.progress })
  try {
    // Old-format deltas (no per-cluster checks) are proven whole before anything is read.
    await (await import('../delta/verify-chain.js')).proveOldDeltas(chain, log)
    const newest = chain.newestFirst[0]!.indexed.header.deviceList.filter(d => d.name !== 'vmstate')
    const disks = newest.map(d => {
      const x = new ChainDeviceExport(chain.newestFirst, d)
      return { name: x.name, size: x.size, read: (buf: Buffer, offset: number) => x.read(offset, buf) }
    })
    return { label: src, disks, release: chain.release }
  } catch (e) {
    await chain.release()
    throw e
  }
}
