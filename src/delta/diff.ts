// vma-opt diff BASE NEW DELTA: a delta that holds all of NEW's metadata but
// only the 64 KiB clusters whose content differs from BASE's cluster at the
// same device name and index (spec/delta-format.md). Both archives are
// indexed (headers only for a plain file; a pipe or compressed input is
// spooled), then read once, side by side, 59 clusters at a time, as compare
// does: the changed clusters go to a body file, and both archives' content
// digests (their identities, for the header) are summed on the way. Before
// the delta is published it is read back: its header, and the digest terms
// of the clusters it holds, must be exactly what was meant to be written, and
// with the terms of BASE's clusters it leaves out they must give NEW's digest.

import { refuseOutput } from './refuse-output.js'
import { keepMetadata, type KeepFrom } from '../output/keep-metadata.js'
import { stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname } from 'node:path'
import type { Readable } from 'node:stream'
import { CLUSTER_SIZE, OPTIMIZED_UUID, SLOTS_PER_EXTENT } from '../format/constants.js'
import { clusterCount } from '../format/cluster-tracker.js'
import { encodeIdentity, type ArchiveIdentity } from '../format/delta-identity.js'
import { VmaHeader, type VmaDevice } from '../format/header.js'
import { parseUuid } from '../format/uuid.js'
import { VmaError } from '../util/errors.js'
import { withFileLock, type LockOptions } from '../util/file-lock.js'
import { loadHasher } from '../util/hasher.js'
import { openInput, type ArchiveInput } from '../input/archive-input.js'
import { OutputFile, compressionFromName, tempNameFor, type OutputCompression } from '../output/output-file.js'
import { inspectArchive } from '../check/inspect.js'
import { indexArchive, type IndexedArchive } from '../archive/index-archive.js'
import { DeviceContents } from '../archive/device-contents.js'
import { ClusterMix, MOD64, hex64 } from '../format/cluster-mix.js'
import { DeltaExtentWriter } from './delta-extents.js'
import { DeltaBody } from './delta-body.js'
import type { DeviceDigest } from '../check/content-digest.js'
import { checkDeltaName } from './delta-name.js'
import { sameContent } from './same-content.js'
import { identityOf } from '../archive/archive-identity.js'

export interface DiffOptions {
  lock?: LockOptions
  /** Replace an existing DELTA (never BASE or NEW). */
  force?: boolean
  /** The file whose owner, group, xattrs, ACLs and mode the delta takes (the archive a reverse delta replaces). */
  keepMetadataOf?: KeepFrom
  stdin?: Readable
  /** Where a pipe or compressed input is spooled (default: next to DELTA). */
  tmpdir?: string
  /** Output compression; by default from DELTA's name. */
  compress?: OutputCompression
  zstdThreads?: number
  progress?: (done: number, total: number) => void
}

export interface DiffResult {
  base: string
  new: string
  delta: string
  /** Clusters NEW has, and how many of them the delta holds. */
  clusters: number
  heldClusters: number
  /** Bytes of the plain delta, and as written (compressed). */
  plainBytes: number
  outputBytes: number
  baseIdentity: ArchiveIdentity
  targetIdentity: ArchiveIdentity
  seconds: number
}

interface DeviceOutcome {
  held: number
  /** Sum of the digest terms of the held clusters: what reading the delta back must give. */
  heldSum: bigint
  /**
   * Sum of the digest terms of the clusters left out, from BASE's bytes as
   * apply takes them (cut at NEW's size): plus what the delta holds, this
   * must be NEW's digest, or BASE + DELTA is not NEW.
   */
  keptSum: bigint
  /** NEW's digest of the device, and BASE's over the clusters both have. */
  newSum: bigint
  baseSum: bigint
}

export async function diff(base: string, neu: string, deltaPath: string, o: DiffOptions = {}): Promise<DiffResult> {
  return withFileLock(deltaPath, o.lock, () => diffLocked(base, neu, deltaPath, o)) // util/file-lock
}

async function diffLocked(base: string, neu: string, deltaPath: string, o: DiffOptions): Promise<DiffResult> {
  const t0 = Date.now()
  checkDeltaName(deltaPath)
  if (base === '-' && neu === '-') throw new VmaError('VMA_USAGE', -1, 'only one of BASE and NEW can be stdin')
  refuseOutput(deltaPath, [base, neu], !!o.force) // an existing delta may be what older deltas apply through
  const spoolDir = o.tmpdir ?? (dirname(deltaPath) || tmpdir())
  const inputs: ArchiveInput[] = []
  const indexes: IndexedArchive[] = []
  let body: DeltaBody | undefined
  try {
    for (const src of [base, neu]) {
      const input = await openInput(src, { stdin: o.stdin })
      inputs.push(input)
      try {
        // No digests here: the one side-by-side reading below takes them.
        indexes.push(await indexArchive(input, { spoolDir }))
      } catch (e) {
        if (e instanceof VmaError) e.file ??= input.label
        throw e
      }
    }
    const [ib, inew] = indexes as [IndexedArchive, IndexedArchive]
    for (const [ix, label] of [
      [ib, inputs[0]!.label],
      [inew, inputs[1]!.label],
    ] as const) {
      if (ix.header.deviceList.some(d => d.name === 'vmstate')) {
        throw new VmaError('VMA_USAGE', -1, `${label} holds a vmstate (RAM) device; diff handles disk-only backups`)
      }
    }
    const h = inew.header
    const uuid = parseUuid(OPTIMIZED_UUID)
    body = await DeltaBody.create(tempNameFor(deltaPath)) // a temp like any other: the stale-file sweep knows it
    const xx = await loadHasher()
    const writer = new DeltaExtentWriter(body, uuid, xx)
    const mix = new ClusterMix(xx)
    const total = h.deviceList.reduce((a, d) => a + clusterCount(d.size), 0)
    const outcomes = new Map<number, DeviceOutcome>()
    const baseSums = new Map<number, bigint>()
    let done = 0
    for (const d of h.deviceList) {
      const bd = ib.header.deviceList.find(x => x.name === d.name)
      const r = await diffDevice(d, bd, ib, inew, writer, mix, n => o.progress?.((done += n), total))
      await writer.flush()
      outcomes.set(d.id, r)
      if (bd) baseSums.set(bd.id, r.baseSum)
    }
    // BASE's clusters that NEW has no counterpart for still count in BASE's digests.
    for (const bd of ib.header.deviceList) {
      const nd = h.deviceList.find(x => x.name === bd.name)
      const rest = await digestClusters(ib, bd, nd ? clusterCount(nd.size) : 0, mix)
      baseSums.set(bd.id, ((baseSums.get(bd.id) ?? 0n) + rest) & MOD64)
    }
    const baseIdentity = identityOf(
      ib.header,
      ib.header.deviceList.map(d => digestOf(d, baseSums.get(d.id)!)),
    )
    const targetIdentity = identityOf(
      h,
      h.deviceList.map(d => digestOf(d, outcomes.get(d.id)!.newSum)),
    )
    const header = VmaHeader.encode({
      uuid,
      ctime: h.ctimeRaw,
      configs: h.configs,
      devices: h.deviceList,
      delta: { base: encodeIdentity(baseIdentity), target: encodeIdentity(targetIdentity), checked: true },
    })
    for (const i of indexes.splice(0)) await i.release()
    const out = await OutputFile.create(tempNameFor(deltaPath), { compression: o.compress ?? compressionFromName(deltaPath), zstdThreads: o.zstdThreads, shownAs: deltaPath })
    try {
      await out.write(header)
      await body.copyTo(out)
      await out.finish()
      await body.remove()
      await proveDelta(out.path, header, outcomes, h.deviceList)
      const { size } = await stat(out.path)
      if (o.keepMetadataOf) await keepMetadata(out.path, o.keepMetadataOf) // a failure is an error, never swallowed
      await out.commit(deltaPath, !o.force)
      return {
        base: inputs[0]!.label,
        new: inputs[1]!.label,
        delta: deltaPath,
        clusters: total,
        heldClusters: [...outcomes.values()].reduce((a, x) => a + x.held, 0),
        plainBytes: header.length + writer.bytes,
        outputBytes: size,
        baseIdentity,
        targetIdentity,
        seconds: (Date.now() - t0) / 1000,
      }
    } catch (e) {
      await out.abort()
      throw e
    }
  } finally {
    await body?.remove()
    for (const i of indexes) await i.release()
    for (const i of inputs) await i.close()
  }
}

const digestOf = (d: VmaDevice, sum: bigint): DeviceDigest => ({ id: d.id, name: d.name, size: d.size, digest: hex64(sum), clusters: clusterCount(d.size) })

/** Writes the clusters of one device of NEW that differ from BASE's; sums the digest terms of both on the way. */
async function diffDevice(
  d: VmaDevice,
  bd: VmaDevice | undefined,
  ib: IndexedArchive,
  inew: IndexedArchive,
  writer: DeltaExtentWriter,
  mix: ClusterMix,
  progress: (n: number) => void,
): Promise<DeviceOutcome> {
  const clusters = clusterCount(d.size)
  const baseClusters = bd ? clusterCount(bd.size) : 0
  const N = new DeviceContents(inew, d)
  const B = new DeviceContents(ib, bd)
  const r: DeviceOutcome = { held: 0, heldSum: 0n, keptSum: 0n, newSum: 0n, baseSum: 0n }
  for (let first = 0; first < clusters; first += SLOTS_PER_EXTENT) {
    const n = Math.min(SLOTS_PER_EXTENT, clusters - first)
    await N.read(first, n)
    if (first < baseClusters) await B.read(first, n)
    for (let i = 0; i < n; i++) {
      const c = first + i
      const at = i * CLUSTER_SIZE
      const term = mix.term(N.buf, at, c)
      r.newSum = (r.newSum + term) & MOD64
      if (c < baseClusters) {
        // Contents are zero past each device's end; only NEW's bytes decide.
        const inside = Math.min(CLUSTER_SIZE, d.size - c * CLUSTER_SIZE)
        const same = sameContent(N.buf, B.buf, at, inside)
        // BASE's own term, never NEW's: the proof must not rest on the comparison.
        const baseTerm = mix.term(B.buf, at, c)
        r.baseSum = (r.baseSum + baseTerm) & MOD64
        if (same) {
          if (inside < CLUSTER_SIZE) B.buf.fill(0, at + inside, at + CLUSTER_SIZE) // apply cuts BASE's bytes at NEW's size
          r.keptSum = (r.keptSum + (inside < CLUSTER_SIZE ? mix.term(B.buf, at, c) : baseTerm)) & MOD64
          continue
        }
      }
      await writer.add(d.id, c, N.buf, at)
      r.held++
      r.heldSum = (r.heldSum + term) & MOD64
    }
    progress(n)
  }
  return r
}

/** The sum of the digest terms of a device's clusters from `from` on. */
async function digestClusters(ia: IndexedArchive, d: VmaDevice, from: number, mix: ClusterMix): Promise<bigint> {
  const clusters = clusterCount(d.size)
  const C = new DeviceContents(ia, d)
  let sum = 0n
  for (let first = from; first < clusters; first += SLOTS_PER_EXTENT) {
    const n = Math.min(SLOTS_PER_EXTENT, clusters - first)
    await C.read(first, n)
    for (let i = 0; i < n; i++) sum = (sum + mix.term(C.buf, i * CLUSTER_SIZE, first + i)) & MOD64
  }
  return sum
}

/**
 * The written delta, read back by the ordinary reader, must hold exactly what
 * was meant, and BASE + DELTA must be NEW: for every device of NEW, the
 * terms of the clusters the delta holds (as read back) plus those of BASE's
 * clusters it leaves out (as apply takes them) must sum to NEW's digest.
 */
async function proveDelta(path: string, header: Buffer, want: Map<number, DeviceOutcome>, devices: VmaDevice[]): Promise<void> {
  const fail = (what: string): never => {
    throw new VmaError('VMA_DIGEST_MISMATCH', -1, `internal error: vma-opt's delta failed its check: ${what}; nothing was written, the inputs are not damaged (please report this)`)
  }
  // Damage the reader finds in what vma-opt just wrote (a cluster failing its check) is vma-opt's fault too, not the inputs'.
  const r = await inspectArchive(path, { failFast: true, digest: true, allowDelta: true }).catch(e => fail(e instanceof VmaError ? e.message : String(e)))
  if (!r.header.raw.equals(header)) fail('its header differs from the one written')
  const got = new Map(r.devices.map(d => [d.id, d]))
  for (const d of devices) {
    const w = want.get(d.id)!
    const back = got.get(d.id)
    if (!back) return fail(`device ${d.name} is not in it`)
    if (back.clustersSeen !== w.held) fail(`${d.name} holds ${back.clustersSeen} clusters, not ${w.held}`)
    if (back.digest !== hex64(w.heldSum)) fail(`the clusters of ${d.name} read back as ${back.digest}, not ${hex64(w.heldSum)}`)
    const applied = hex64((w.keptSum + BigInt('0x' + back.digest!)) & MOD64)
    if (applied !== hex64(w.newSum)) fail(`applied to BASE it would give ${d.name} digest ${applied}, NEW's is ${hex64(w.newSum)}`)
  }
}
