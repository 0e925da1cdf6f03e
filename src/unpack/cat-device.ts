// vma-opt cat: one device's raw content, in order, to a stream. From a plain
// file the index is built from the headers alone; anything else is spooled
// first (clusters may arrive in any order). The whole archive is checked
// before the first byte is written, so a damaged archive never produces a
// partial image silently.

import { tmpdir } from 'node:os'
import type { Readable, Writable } from 'node:stream'
import { CLUSTER_SIZE, SLOTS_PER_EXTENT } from '../format/constants.js'
import { clusterCount } from '../format/cluster-tracker.js'
import { findDevice, noSuchDevice } from '../format/device-name.js'
import { VmaError, fromSystemError } from '../util/errors.js'
import { openInput } from '../input/archive-input.js'
import { indexArchive, type IndexedArchive } from '../archive/index-archive.js'
import { DeviceContents } from '../archive/device-contents.js'

export interface CatOptions {
  stdin?: Readable
  tmpdir?: string
  progress?: (bytes: number) => void
}

export interface CatResult {
  src: string
  device: string
  bytes: number
}

/** Writes `buf` and resolves once the stream has taken it (so it may be reused). */
function writeAll(out: Writable, buf: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    out.write(buf, err => (err ? reject(fromSystemError(err, 'cannot write the output')) : resolve()))
  })
}

export async function catDevice(src: string, device: string, out: Writable, o: CatOptions = {}): Promise<CatResult> {
  const input = await openInput(src, { stdin: o.stdin })
  let idx: IndexedArchive | undefined
  try {
    idx = await indexArchive(input, { spoolDir: o.tmpdir ?? tmpdir(), progress: o.progress, form: false })
    const d = findDevice(idx.header.deviceList, device)
    if (!d) throw noSuchDevice([device], idx.header.deviceList)
    const contents = new DeviceContents(idx, d)
    const clusters = clusterCount(d.size)
    let bytes = 0
    for (let first = 0; first < clusters; first += SLOTS_PER_EXTENT) {
      const n = Math.min(SLOTS_PER_EXTENT, clusters - first)
      await contents.read(first, n)
      const len = Math.min(n * CLUSTER_SIZE, d.size - first * CLUSTER_SIZE)
      await writeAll(out, contents.buf.subarray(0, len))
      bytes += len
    }
    return { src: input.label, device, bytes }
  } catch (e) {
    if (e instanceof VmaError) e.file ??= input.label
    throw e
  } finally {
    await idx?.release()
    await input.close()
  }
}
