// src/archive/: whole archives as random-access objects, built on the layers
// below: the cluster index, readers that fetch clusters in any order, a
// device's contents in order, and the writer of the optimized form. The
// operations (optimize, unpack, pack, compare, ...) are made of these.
//
// Reads an archive once, in order, checking everything verify checks and
// recording where each cluster's data sits, so that commands can then read
// clusters in any order with positional reads. A plain file is read in place
// (only its headers, when no digest is wanted); anything else (a pipe, a
// compressed file) is first spooled uncompressed to a temp file.

import { join } from 'node:path'
import { ClusterTracker } from '../format/cluster-tracker.js'
import { ContentDigest, type DeviceDigest } from '../check/content-digest.js'
import { FormCheck } from '../check/form-check.js'
import { loadHasher } from '../util/hasher.js'
import type { VmaHeader } from '../format/header.js'
import { readFile, type ArchiveInput } from '../input/archive-input.js'
import { PositionalFile } from '../input/positional-file.js'
import { ProblemList } from '../util/problem.js'
import { scanChunks, scanHeaders } from '../check/scan.js'
import type { VmaParser } from '../format/vma-parser.js'
import type { VmaSink } from '../format/vma-sink.js'
import { ClusterIndex } from './cluster-index.js'
import { DeltaCheckIndex } from '../format/delta-check-index.js'
import { DeltaDataCheck } from '../format/delta-data-check.js'
import { tempNameFor } from '../output/output-file.js'
import { Spool } from '../input/spool.js'

/** What one checking pass over an archive learns. */
export interface CheckedArchive {
  header: VmaHeader
  tracker: ClusterTracker
  /** Per-device content digests (when asked for). */
  digests: DeviceDigest[]
  form: FormCheck
  plainBytes: number
}

export interface IndexedArchive extends CheckedArchive {
  index: ClusterIndex
  /** A DLT2 delta's cluster checks (checks.checked is false for anything else). */
  checks: DeltaCheckIndex
  /** Where to read cluster data from: the input itself, or the spool. */
  file: PositionalFile
  /** Closes the spool reader and removes the spool (the input is the caller's). */
  release(): Promise<void>
}

export interface IndexOptions {
  spoolDir: string
  digest?: boolean
  progress?: (bytes: number) => void
  /** Accept a vma-opt delta (by default one is refused with VMA_IS_DELTA). */
  allowDelta?: boolean
  /**
   * Judge the optimized form (default true). Serving and reading do not
   * need it, and on 100 GiB it is a tenth of serve's start-up.
   */
  form?: boolean
}

export async function indexArchive(input: ArchiveInput, o: IndexOptions): Promise<IndexedArchive> {
  const tracker = new ClusterTracker(new ProblemList(true), o.allowDelta)
  const digest = o.digest ? new ContentDigest(await loadHasher()) : undefined
  const judgeForm = o.form !== false
  const form = judgeForm ? new FormCheck() : FormCheck.notJudged()
  let spool: Spool | undefined
  let file = input.file
  let parser: VmaParser
  let index: ClusterIndex
  const xx = await loadHasher()
  const checks = new DeltaCheckIndex(xx)
  try {
    if (!file) {
      spool = await Spool.create(tempNameFor(join(o.spoolDir, 'input.vma'), 'spool'))
      await input.writePlainTo(spool.fd)
      file = await PositionalFile.open(spool.path)
    }
    index = new ClusterIndex(file.size)
    const deltaSinks = o.allowDelta ? [checks, new DeltaDataCheck(xx)] : []
    const sinks: VmaSink[] = [tracker, ...(judgeForm ? [form] : []), ...(digest ? [digest] : []), index, ...deltaSinks]
    parser = digest ? await scanChunks(readFile(file), sinks, o.progress) : await scanHeaders(file, sinks, o.progress)
  } catch (e) {
    if (spool) await file?.close()
    await spool?.remove()
    throw e
  }
  const source = file
  return {
    header: parser.header!,
    tracker,
    digests: digest?.result() ?? [],
    form,
    index,
    checks,
    plainBytes: parser.position,
    file: source,
    release: async () => {
      if (spool) {
        await source.close()
        await spool.remove()
      }
    },
  }
}

/**
 * Checks the whole plain stream in order, without spooling or indexing: every
 * check verify makes, content digests, the optimized-form test, and whatever
 * `extra` sinks want to learn on the way.
 */
export async function checkArchive(input: ArchiveInput, o: { progress?: (bytes: number) => void; extra?: VmaSink[] } = {}): Promise<CheckedArchive> {
  const tracker = new ClusterTracker(new ProblemList(true))
  const digest = new ContentDigest(await loadHasher())
  const form = new FormCheck()
  const parser = await scanChunks(input.chunks(), [tracker, form, digest, ...(o.extra ?? [])], o.progress)
  return { header: parser.header!, tracker, digests: digest.result(), form, plainBytes: parser.position }
}
