// src/check/: what can be said about an archive from one pass over it:
// verify/info reports, the scan loop shared by every pass, the optimized-form
// check and per-device content digests (the basis of every proof).
//
// One pass over an archive that gathers what `info` and `verify` report.
// Damage to the structure (header, extent headers, truncation) throws a
// VmaError; problems with clusters and names are collected in the report.

import { ClusterTracker, type DeviceStats } from '../format/cluster-tracker.js'
import { ContentDigest } from './content-digest.js'
import { VmaError } from '../util/errors.js'
import { FormCheck } from './form-check.js'
import { DeltaDataCheck } from '../format/delta-data-check.js'
import { loadHasher } from '../util/hasher.js'
import { openInput, type ArchiveInput, type OpenOptions } from '../input/archive-input.js'
import { ProblemList, type Problem } from '../util/problem.js'
import { scanHeaders, scanStream, type ProgressFn } from './scan.js'
import type { VmaSink } from '../format/vma-sink.js'
import { VmaParser } from '../format/vma-parser.js'
import type { VmaHeader } from '../format/header.js'

export interface InspectOptions extends OpenOptions {
  /** Read every data block even when headers would do (default: only when needed). */
  readData?: boolean
  /** Compute per-device content digests (implies readData). */
  digest?: boolean
  /** Throw the first problem instead of collecting them. */
  failFast?: boolean
  progress?: ProgressFn
  /** More sinks to feed in the same pass (reads the data when given). */
  extra?: VmaSink[]
  /** Read a vma-opt delta too (info, verify); otherwise one is a problem (VMA_IS_DELTA). */
  allowDelta?: boolean
}

export type DeviceReport = Omit<DeviceStats, 'vmstate'> & { digest?: string }

export interface ArchiveReport {
  file: string
  compression: string
  uuid: string
  ctime: number
  headerSize: number
  /** Bytes of the plain VMA stream. */
  size: number
  extents: number
  configs: { slot: number; name: string; size: number }[]
  devices: DeviceReport[]
  /** Clusters appear in (device id, cluster) ascending order. */
  sorted: boolean
  /** In vma-opt's optimized form, fixed uuid included. */
  optimized: boolean
  /** Why not (empty when optimized). */
  notOptimizedBecause: string[]
  fixedUuid: boolean
  /** Why the layout is not the optimized form, the uuid aside. */
  formReasons: string[]
  /** The layout is the aligned variant of the form: every data block at a multiple of 4 KiB. */
  aligned: boolean
  /** Whether data blocks were read (otherwise only headers were). */
  dataRead: boolean
  problems: Problem[]
  problemCount: number
  warnings: string[]
  /** The decoded header (configs with their bytes), for callers in code. */
  header: VmaHeader
  /** A vma-opt delta: devices hold only the clusters that changed (clustersSeen). */
  delta: boolean
}

export async function inspectArchive(src: string | ArchiveInput, opts: InspectOptions = {}): Promise<ArchiveReport> {
  const input = typeof src === 'string' ? await openInput(src, opts) : src
  try {
    const problems = new ProblemList(opts.failFast ?? false)
    const tracker = new ClusterTracker(problems, opts.allowDelta)
    const form = new FormCheck()
    const sinks: VmaSink[] = [tracker, form]
    let digest: ContentDigest | undefined
    if (opts.digest) {
      digest = new ContentDigest(await loadHasher())
      sinks.push(digest)
    }
    // A DLT2 delta's data is checked against its check sectors wherever it is read.
    if (opts.allowDelta) sinks.push(new DeltaDataCheck(await loadHasher()))
    if (opts.extra) sinks.push(...opts.extra)
    const headersOnly = input.file && !opts.readData && !opts.digest && !opts.extra?.length
    const parser = headersOnly ? await scanHeaders(input.file!, sinks, opts.progress) : await scanStream(input, sinks, opts.progress)
    const h = parser.header!
    const digests = new Map(digest?.result().map(d => [d.id, d.digest]))
    return {
      file: input.label,
      compression: input.compression,
      uuid: h.uuidString,
      ctime: h.ctime,
      headerSize: h.headerSize,
      size: parser.position,
      extents: parser.extents,
      configs: h.configs.map(c => ({ slot: c.slot, name: c.name, size: c.data.length })),
      devices: tracker.devices
        .filter(d => d !== undefined)
        .map(d => ({
          id: d.id,
          name: d.name,
          size: d.size,
          clusters: d.clusters,
          clustersSeen: d.clustersSeen,
          storedBlocks: d.storedBlocks,
          zeroClusters: d.zeroClusters,
          ...(digests.has(d.id) ? { digest: digests.get(d.id) } : {}),
        })),
      sorted: tracker.sorted,
      optimized: form.optimized(),
      notOptimizedBecause: [...form.reasons, ...(form.fixedUuid ? [] : ['the uuid is not the fixed one'])],
      fixedUuid: form.fixedUuid,
      formReasons: [...form.reasons],
      aligned: form.aligned,
      dataRead: !headersOnly,
      problems: problems.items,
      problemCount: problems.total,
      warnings: tracker.warnings,
      header: h,
      delta: tracker.delta,
    }
  } catch (e) {
    if (e instanceof VmaError) e.file ??= input.label
    throw e
  } finally {
    if (typeof src === 'string') await input.close()
  }
}

/**
 * Reads only the archive header, as `vma list` and `vma config` do, and stops
 * reading (a decompressor is stopped too).
 */
export async function readArchiveHeader(src: string, opts: OpenOptions = {}): Promise<VmaHeader> {
  const input = await openInput(src, opts)
  try {
    return await readHeaderOf(input)
  } catch (e) {
    if (e instanceof VmaError) e.file ??= input.label
    throw e
  } finally {
    await input.close()
  }
}

/** The header of an opened input, feeding the parser no byte past it. The caller closes the input. */
export async function readHeaderOf(input: ArchiveInput): Promise<VmaHeader> {
  const parser = new VmaParser([])
  for await (const chunk of input.chunks()) {
    let pos = 0
    while (pos < chunk.length && parser.headerBytesNeeded > 0) {
      const take = Math.min(parser.headerBytesNeeded, chunk.length - pos)
      parser.write(chunk.subarray(pos, pos + take))
      pos += take
    }
    if (parser.header) return parser.header
  }
  parser.end()
  throw new VmaError('VMA_HEADER_TRUNCATED', parser.position, 'the input ends inside the header', 'header')
}
