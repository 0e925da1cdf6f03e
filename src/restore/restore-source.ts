// The disks `ls` and `get` read from, at random and only where a reader asks:
// a plain (or optimized) archive is read in place through its cluster index
// with positional reads (trim/disk/archive-disk, the reader `info
// --free-space` uses); a compressed one is spooled uncompressed to a temp
// file first (tracked: removed on exit and on signals), which is said on
// stderr. (A reverse delta is read through its chain: delta/ is beside this
// layer, so the command line joins them, cli/restore-input.)

import { tmpdir } from 'node:os'
import type { Readable } from 'node:stream'
import { openInput } from '../input/archive-input.js'
import { indexArchive } from '../archive/index-archive.js'
import { ArchiveDisk } from '../trim/disk/archive-disk.js'
import type { TrimDisk } from '../trim/disk/disk.js'
import { VmaError } from '../util/errors.js'

export interface RestoreSource {
  /** What the user named. */
  label: string
  /** The archive's disks in its order (vmstate, RAM, left out). */
  disks: TrimDisk[]
  /** Closes the archive and removes any spool. */
  release(): Promise<void>
}

export interface SourceOptions {
  stdin?: Readable
  tmpdir?: string
  /** One line to stderr: spooling, the chain found. */
  log?: (msg: string) => void
  progress?: (bytes: number) => void
}

export async function openRestoreSource(src: string, o: SourceOptions = {}): Promise<RestoreSource> {
  const log = o.log ?? (() => undefined)
  const spoolDir = o.tmpdir ?? tmpdir()
  const input = await openInput(src, { stdin: o.stdin })
  try {
    if (!input.file) log(`${input.label}: ${input.compression !== 'none' ? `${input.compression}-compressed` : 'not a plain file'}, spooling it uncompressed to ${spoolDir} first`)
    const idx = await indexArchive(input, { spoolDir, progress: o.progress, form: false })
    return {
      label: input.label,
      disks: idx.header.deviceList.filter(d => d.name !== 'vmstate').map(d => new ArchiveDisk(idx.file, idx.index, d)),
      release: async () => {
        await idx.release()
        await input.close()
      },
    }
  } catch (e) {
    if (e instanceof VmaError && e.code === 'VMA_IS_DELTA') {
      e.file = undefined
      await input.close()
      throw new VmaError('VMA_IS_DELTA', -1, `${input.label} is a delta: give it under its vzdump name (vzdump-qemu-VMID-DATE.vma-delta[.zst]) in the directory of its chain, and the chain is found`)
    }
    if (e instanceof VmaError) e.file ??= input.label
    await input.close()
    throw e
  }
}
