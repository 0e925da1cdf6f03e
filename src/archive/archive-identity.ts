// The identity (spec/delta-format.md) of an archive that has been read with
// content digests, and the checks that tie a delta's header to its identities.
// Shared by the delta operations and compare (which reads deltas).

import { ContentDigest, type DeviceDigest } from '../check/content-digest.js'
import { scanChunks } from '../check/scan.js'
import { readFile } from '../input/archive-input.js'
import { loadHasher } from '../util/hasher.js'
import type { IndexedArchive } from './index-archive.js'
import { configSha256, decodeIdentity, identityDifference, type ArchiveIdentity } from '../format/delta-identity.js'
import type { VmaHeader } from '../format/header.js'
import { VmaError } from '../util/errors.js'

export function identityOf(h: VmaHeader, digests: DeviceDigest[]): ArchiveIdentity {
  // The record is JSON, whose numbers are exact only up to 2^53.
  if (!Number.isSafeInteger(h.ctime)) throw new VmaError('VMA_DELTA_IDENTITY', 24, `the creation time ${h.ctimeRaw} is beyond what a delta can record (2^53 seconds)`, 'header')
  const byId = new Map(digests.map(d => [d.id, d.digest]))
  return {
    ctime: h.ctime,
    configs: h.configs.map(c => ({ name: c.name, sha256: configSha256(c.data) })),
    devices: h.deviceList.map(d => ({ id: d.id, name: d.name, size: d.size, digest: byId.get(d.id) ?? '' })),
  }
}

export interface DeltaIdentities {
  base: ArchiveIdentity
  target: ArchiveIdentity
}

/**
 * The identities a delta's header records. Its own ctime, configs and devices
 * are its target's: a header that says otherwise is damaged.
 */
export function deltaIdentities(h: VmaHeader, label: string): DeltaIdentities {
  if (!h.delta) throw new VmaError('VMA_NOT_DELTA', 4, 'this is a full archive, not a vma-opt delta (only the first input of a chain is one)', 'header')
  const base = decodeIdentity(h.delta.base, 'base')
  const target = decodeIdentity(h.delta.target, 'target')
  const own = identityOf(h, [])
  const why = identityDifference({ ...own, devices: own.devices.map((d, i) => ({ ...d, digest: target.devices[i]?.digest ?? '' })) }, target)
  if (why) throw new VmaError('VMA_DELTA_IDENTITY', -1, `the header of ${label} does not match its target identity: ${why}`, 'header')
  return { base, target }
}

/** The identity of an indexed archive, reading its data for the digests if the index was made without them. */
export async function identityOfIndexed(ia: IndexedArchive): Promise<ArchiveIdentity> {
  if (ia.digests.length || ia.header.deviceList.length === 0) return identityOf(ia.header, ia.digests)
  const digest = new ContentDigest(await loadHasher())
  await scanChunks(readFile(ia.file), [digest])
  return identityOf(ia.header, digest.result())
}
