// What `ls` and `get` read: an archive (restore/restore-source), or a
// reverse delta read through its chain, found in the delta's directory as
// `rebuild` finds it (delta/chain-for), every cluster from the newest link
// that holds it (delta/chain-export, what `serve BASE DELTA...` exports).
// Here because restore/ and delta/ are one layer and may not import each other.

import { basename } from 'node:path'
import { tmpdir } from 'node:os'
import type { RestoreSource, SourceOptions } from '../restore/restore-source.js'

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
