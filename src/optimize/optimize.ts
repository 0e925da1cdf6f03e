// vma-opt optimize: rewrite an archive into the optimized form and prove,
// before anything is replaced or published, that every device's content is
// unchanged. Three passes:
//   1. read the input once, in order: check everything verify checks, take
//      per-device content digests, index where each cluster's data sits
//      (spooling a pipe or a compressed stream to a temp file on the way);
//   2. write the optimized form from the index with positional reads, to a
//      temp file next to the destination (through a compressor if asked);
//   3. read that temp file back through the ordinary reader and compare
//      digests, configs and form; only then fsync, rename, fsync the dir.
// For a plain file that is not optimized yet (the hook's usual case), pass 1
// indexes the headers alone and its full check runs while pass 2 writes:
// the two read the same page cache, on two cores, instead of one after the
// other; pass 3 still compares with the full check's digests. For a
// compressed file that is not optimized yet, the check's own reading feeds
// the writer (checking-reader), so the input is decompressed about once
// instead of once to check and again to write.

import type { Stats } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname } from 'node:path'
import type { Readable, Writable } from 'node:stream'
import { clusterCount } from '../format/cluster-tracker.js'
import type { DeviceDigest } from '../check/content-digest.js'
import { VmaError } from '../util/errors.js'
import { sweepStaleTemps } from '../util/temp-names.js'
import { resolveTarget } from './optimize-target.js'
import { withFileLock, type LockOptions } from '../util/file-lock.js'
import { openInput, type ArchiveInput } from '../input/archive-input.js'
import { FIXED_UUID } from '../check/form-check.js'
import type { HeaderFields, VmaHeader } from '../format/header.js'
import { checkArchive, indexArchive, type CheckedArchive, type IndexedArchive } from '../archive/index-archive.js'
import { DisorderMeter } from './disorder-meter.js'
import { CheckingReader } from './checking-reader.js'
import { RereadCost, rereadAfterCheck, spoolFromTheStart } from './read-strategy.js'
import { peekHeader } from '../archive/peek-header.js'
import { StreamClusterReader } from '../archive/stream-cluster-reader.js'
import { ArchiveClusterReader } from '../archive/archive-cluster-reader.js'
import type { ClusterReader, EmitDevice } from '../archive/emit.js'
import { compressionFromName, type OutputCompression } from '../output/output-file.js'
import { writeArchive, type WriteResult, type WriteTarget } from '../archive/write-archive.js'
import { ArchiveDisk } from '../trim/disk/archive-disk.js'
import { prepareTrim, zeroesOn, type PreparedTrim, type TrimResult } from '../trim/trim-step.js'
import type { TrimOptions } from '../trim/volume.js'
import { SharePlan } from '../share/share-plan.js'
import { checkSpace } from '../output/space-check.js'
import type { ShareResult } from '../share/share-blocks.js'

export interface OptimizeOptions {
  /** Destination path; "-" for stdout; undefined to replace SRC in place (stdout when SRC is "-"). */
  dest?: string
  /** Output compression; by default from the destination's extension. */
  compress?: OutputCompression
  keepUuid?: boolean
  /** Write the aligned form (every data block at a multiple of 4 KiB, for block sharing); a packed optimized archive is then rewritten. */
  align?: boolean
  /** Archives on the same filesystem to share identical 4 KiB blocks with (spec/sharing.md); implies align. */
  shareWith?: string[]
  /** Where spool files go (and the temp output when writing to stdout). */
  tmpdir?: string
  /** Skip the final read-back proof (not recommended). */
  noCheck?: boolean
  /** Replace an existing DEST, or a SRC with other hard links in place. */
  force?: boolean
  /** Always spool a compressed input instead of reading it again per device. */
  spool?: boolean
  /** Bytes of one device that may wait in memory for reordering (tests lower it). */
  holdLimit?: number
  zstdThreads?: number
  stdin?: Readable
  stdout?: Writable
  forceFzstd?: boolean
  progress?: (phase: 'reading' | 'writing' | 'proving', done: number, total: number) => void
  /** Zero what the guests' filesystems declare free (src/trim/); needs random access, so a compressed input is spooled. */
  trim?: TrimOptions
  /** Run pass 1 to its end before pass 2 even where they could overlap (tests compare both ways). */
  noOverlap?: boolean
  /** Wait for another run that holds the output file (util/file-lock) instead of failing. */
  lock?: LockOptions
  /** Skip the up-front free-space check (output/space-check). */
  noSpaceCheck?: boolean
}

export interface OptimizeResult {
  src: string
  /** Where the result went: a path, or "-" for stdout. */
  dest: string
  compression: OutputCompression
  /** Bytes of the input as stored (compressed size for compressed files; -1 if unknown). */
  inputBytes: number
  /** Bytes of the plain input stream. */
  plainBytes: number
  /** Bytes written (compressed size for compressed output); equal to the input when left alone. */
  outputBytes: number
  /** Plain bytes of the optimized archive. */
  plainOutputBytes: number
  alreadyOptimized: boolean
  /** False when the file was already optimized in place and left alone. */
  written: boolean
  checked: boolean
  seconds: number
  devices: DeviceDigest[]
  /** What --trim found and zeroed. */
  trim?: TrimResult
  /** What --share-with shared, or why nothing. */
  share?: ShareResult
}

/**
 * Most bytes of one device held in memory to put its clusters in order when
 * a compressed input is read again instead of spooled.
 */
const STREAM_HOLD_LIMIT = 48 << 20

/** VMA_OPT_TRACE=1 prints how long each pass took, for tuning. */
const trace = process.env.VMA_OPT_TRACE
  ? (what: string, since: number) => {
      const cpu = process.cpuUsage()
      process.stderr.write(`trace: ${what} ${((Date.now() - since) / 1000).toFixed(2)} s (cpu ${(cpu.user / 1e6).toFixed(2)} user ${(cpu.system / 1e6).toFixed(2)} sys)\n`)
    }
  : () => undefined

export async function optimize(src: string, opts: OptimizeOptions = {}): Promise<OptimizeResult> {
  // The file written is locked for the whole run (a second run on it waits
  // or fails); what it is gets looked at again once the lock is held.
  const { finalPath, srcStat, inPlace } = await resolveTarget(src, opts.dest, opts.force)
  // Before the lock's claim or any temp file exists. Sharing clones the
  // blocks it finds (most of a night's backup): the new file needs about what
  // changed, not the input's size, so that run is not refused (ENOSPC is handled as always).
  if (!opts.noSpaceCheck && !opts.shareWith?.length && finalPath && srcStat?.isFile() && !(inPlace && (await mayBeLeftAlone(src, opts)))) {
    await checkSpace(finalPath, srcStat.size, { what: inPlace ? "the input's size, for the new copy written beside it" : "the input's size" })
  }
  return withFileLock(finalPath, opts.lock, () => optimizeLocked(src, opts))
}

/**
 * Whether an in-place run may write nothing (the file is optimized already):
 * its uuid is the fixed one, or --keep-uuid leaves no way to tell from the
 * header. Such a run is not refused for space it may not need; should it
 * write after all, ENOSPC is handled as always.
 */
async function mayBeLeftAlone(src: string, o: OptimizeOptions): Promise<boolean> {
  if (o.keepUuid) return true
  const h = await peekHeader(() => openInput(src, { forceFzstd: o.forceFzstd }))
  return !h || h.uuid.equals(FIXED_UUID)
}

async function optimizeLocked(src: string, opts: OptimizeOptions): Promise<OptimizeResult> {
  const t0 = Date.now()
  const { inPlace, finalPath, srcStat, name, isNew } = await resolveTarget(src, opts.dest, opts.force)
  const compression = opts.compress ?? (finalPath ? compressionFromName(finalPath) : 'none')
  // Sharing needs the aligned form; the archives to share with are indexed while this one is written.
  const sharing = opts.shareWith?.length ? await SharePlan.start(opts.shareWith, finalPath, compression !== 'none') : undefined
  const o: OptimizeOptions & { sharing?: SharingState } = { ...opts, align: opts.align || !!sharing, ...(sharing ? { sharing: { plan: sharing } } : {}) }
  const workDir = o.tmpdir ?? (finalPath ? dirname(finalPath) : tmpdir())
  // Every run clears what killed runs left behind in the directories it uses.
  if (finalPath) sweepStaleTemps(dirname(finalPath))
  sweepStaleTemps(workDir)
  const input = await openInput(src, { stdin: o.stdin, forceFzstd: o.forceFzstd })
  const total = srcStat?.isFile() ? srcStat.size : -1
  let indexed: IndexedArchive | undefined
  let stream: StreamClusterReader | undefined
  let reopened: ArchiveInput | undefined
  try {
    const progress = (n: number) => o.progress?.('reading', n, input.compression === 'none' ? total : -1)
    // A compressed file can be read again: unless its devices make that
    // clearly dearer than spooling (read-strategy), check it as a stream
    // first, and if rereading per device then costs little and each device's
    // clusters come nearly in order, decompress it once more per device while
    // writing instead of spooling it uncompressed to disk.
    const reopen = () => openInput(src, { forceFzstd: o.forceFzstd })
    const compressedFile = !input.file && !!srcStat?.isFile() && !o.spool && !o.trim // not a pipe or FIFO; trim reads at random
    const peeked = compressedFile ? await peekHeader(reopen) : undefined
    const rereadable = compressedFile && !(peeked && spoolFromTheStart(peeked))
    if (compressedFile && !rereadable) trace('pass 1 spools: rereading per device would cost more', t0)
    const holdLimit = o.holdLimit ?? STREAM_HOLD_LIMIT
    // A compressed file that is not optimized yet (its uuid is not the fixed
    // one): one reading checks it and feeds the writer (checking-reader).
    if (rereadable && peeked && onePass(peeked, o)) {
      trace("pass 1 (header read; the check's reading feeds pass 2)", t0)
      return await optimizeOnePass(input, reopen, holdLimit, { ...o, t0, total, compression, workDir, inPlace, finalPath, srcStat, name, isNew })
    }
    // A plain file whose headers already show it is not in the optimized
    // form (every fresh vzdump backup): the full check of pass 1 runs while
    // pass 2 writes, from an index of the headers alone.
    if (input.file && !o.trim && !o.noOverlap) {
      const headers = await indexArchive(input, { spoolDir: workDir, progress })
      if (!headers.form.optimized(!!o.keepUuid, !!o.align)) {
        indexed = headers
        trace('pass 1 (headers indexed; the full check runs alongside pass 2)', t0)
        return await optimizeOverlapped(input, headers, { ...o, t0, total, compression, workDir, inPlace, finalPath, srcStat, name, isNew })
      }
      await headers.release()
    }
    const meter = new DisorderMeter(holdLimit)
    const cost = new RereadCost()
    const one: CheckedArchive = rereadable ? await checkArchive(input, { progress, extra: [meter, cost] }) : (indexed = await indexArchive(input, { spoolDir: workDir, digest: true, progress }))
    trace('pass 1 (read, check, digest, index)', t0)
    const alreadyOptimized = one.form.optimized(!!o.keepUuid, !!o.align)
    const base = {
      src: input.label,
      compression,
      inputBytes: total,
      plainBytes: one.plainBytes,
      alreadyOptimized,
      devices: one.digests,
    }
    const devices = emitDevices(one)
    let trimmer: PreparedTrim | undefined
    let reader: ClusterReader | undefined
    if (o.trim) {
      reader = new ArchiveClusterReader(indexed!.file, indexed!.index)
      const targets = one.header.deviceList.map(d => ({ id: d.id, disk: new ArchiveDisk(indexed!.file, indexed!.index, d) }))
      trimmer = await prepareTrim(targets, devices, reader, o.trim)
      reader = trimmer.reader
      trace('trim plan', t0)
    }
    if (alreadyOptimized && inPlace && compression === input.compression && (!trimmer || (await nothingToZero(trimmer, indexed!)))) {
      // Left alone, but still shared: sharing never changes a byte of it.
      if (o.sharing) o.sharing.result = await o.sharing.plan.into(finalPath!)
      return {
        ...base,
        ...(trimmer ? { trim: trimmer.result() } : {}),
        ...shareOf(o),
        dest: src,
        outputBytes: total,
        plainOutputBytes: one.plainBytes,
        written: false,
        checked: false,
        seconds: (Date.now() - t0) / 1000,
      }
    }

    // Pass 2: write the optimized form next to its destination.
    if (reader) {
      // trim: already set up over the indexed input
    } else if (!rereadable) reader = new ArchiveClusterReader(indexed!.file, indexed!.index)
    else if (rereadAfterCheck(cost.passes(), meter.exceeded)) reader = stream = new StreamClusterReader(reopen, holdLimit)
    else {
      // Too far out of order to hold, or too many passes: spool after all.
      reopened = await reopen()
      indexed = await indexArchive(reopened, { spoolDir: workDir })
      reader = new ArchiveClusterReader(indexed.file, indexed.index)
    }
    trace(`pass 2 reads ${stream ? 'the input again per device' : 'a spool or the plain input'} (rereading would take ${cost.passes().toFixed(1)} passes)`, t0)
    const fields = optimizedFields(one.header, o.keepUuid)
    const digests = one.digests
    const w = await writeArchive(fields, devices, reader, {
      ...writeTargetOf({ ...o, t0, total, compression, workDir, inPlace, finalPath, srcStat, name, isNew }),
      expected: () => (trimmer ? trimmer.expected(digests) : digests),
      proof: trimmer?.proof,
      progress: (phase, n) => o.progress?.(phase, n, one.plainBytes),
      written: async () => {
        trace('pass 2 (write)', t0)
        // Neither the spool nor the second reading is needed for the check.
        await indexed?.release()
        await stream?.close()
      },
    })
    trace('pass 3 (read back, compare; fsync meanwhile)', t0)
    return {
      ...base,
      ...(trimmer ? { trim: trimmer.result() } : {}),
      ...shareOf(o),
      dest: inPlace ? input.label : name,
      outputBytes: w.outputBytes,
      plainOutputBytes: w.plainBytes,
      written: true,
      checked: w.checked,
      seconds: (Date.now() - t0) / 1000,
    }
  } catch (e) {
    if (e instanceof VmaError) e.file ??= input.label
    throw e
  } finally {
    await indexed?.release()
    await stream?.close()
    await reopened?.close()
    await input.close()
    await sharing?.settle()
  }
}

/** What --share-with is doing: the plan, and what it did once the file was written. */
interface SharingState {
  plan: SharePlan
  result?: ShareResult
}

function shareOf(o: { sharing?: SharingState }): { share?: ShareResult } {
  return o.sharing ? { share: o.sharing.result ?? { shared: 0, differ: 0, why: o.sharing.plan.why } } : {}
}

/** What a run that wrote the optimized form reports, from the input's check and the writer's result. */
function writtenResult(src: string, o: Resolved, one: CheckedArchive, w: WriteResult): OptimizeResult {
  return {
    src,
    compression: o.compression,
    inputBytes: o.total,
    plainBytes: one.plainBytes,
    alreadyOptimized: false,
    devices: one.digests,
    ...shareOf(o),
    dest: o.inPlace ? src : o.name,
    outputBytes: w.outputBytes,
    plainOutputBytes: w.plainBytes,
    written: true,
    checked: w.checked,
    seconds: (Date.now() - o.t0) / 1000,
  }
}

interface Resolved extends OptimizeOptions {
  sharing?: SharingState
  t0: number
  total: number
  compression: OutputCompression
  workDir: string
  inPlace: boolean
  finalPath?: string
  srcStat?: Stats
  name: string
  isNew?: boolean
}

/**
 * Pass 1 and pass 2 at once, for a plain file whose headers are indexed:
 * the writer reads clusters by the index while the full check reads the
 * file front to back (both with positional reads, from the page cache or
 * the disk). The check's digests are what the proof compares with, and they
 * are awaited before it; if the check fails, the next read of the writer
 * fails with the same error and the temp file goes.
 */
async function optimizeOverlapped(input: ArchiveInput, headers: IndexedArchive, o: Resolved): Promise<OptimizeResult> {
  let failure: unknown
  const devices = emitDevices(headers)
  const index = new ArchiveClusterReader(headers.file, headers.index)
  const reader: ClusterReader = {
    bufferSize: index.bufferSize,
    concurrent: index.concurrent,
    read: (...a) => (failure ? Promise.reject(failure) : index.read(...a)),
  }
  let one: CheckedArchive | undefined
  const checking = checkArchive(input, {})
  checking.catch(e => (failure = e))
  try {
    const w = await writeArchive(optimizedFields(headers.header, o.keepUuid), devices, reader, {
      ...writeTargetOf(o),
      expected: () => one!.digests,
      progress: (phase, n) => o.progress?.(phase, n, headers.plainBytes),
      written: async () => {
        trace('pass 2 (write)', o.t0)
        one = await checking
        trace('the full check (alongside pass 2) done', o.t0)
      },
    })
    trace('pass 3 (read back, compare; fsync meanwhile)', o.t0)
    return writtenResult(input.label, o, one!, w)
  } finally {
    await checking.catch(() => undefined) // nothing reads the input once we return
  }
}

/** Whether a compressed file's check and write can share one reading: it is not optimized already, and has no vmstate stream (whose length only the whole reading tells). */
function onePass(h: VmaHeader, o: OptimizeOptions): boolean {
  return !o.noOverlap && !o.keepUuid && !h.uuid.equals(FIXED_UUID) && !h.deviceList.some(d => d.name === 'vmstate')
}

/**
 * Pass 1 and pass 2 in one reading of a compressed file: the check's pass
 * hands the writer the clusters of the device being written and holds those
 * of the next ones (CheckingReader); devices it cannot hold are read again
 * or spooled once it has ended. The proof compares with the check's digests.
 */
async function optimizeOnePass(input: ArchiveInput, reopen: () => Promise<ArchiveInput>, holdLimit: number, o: Resolved): Promise<OptimizeResult> {
  const reader = await CheckingReader.create(input, { reopen, holdLimit, spoolDir: o.workDir, trace: what => trace(what, o.t0) })
  let one: CheckedArchive | undefined
  try {
    const header = await reader.header()
    // The choice was made on a header read by another opening of the file.
    if (!onePass(header, o)) throw new VmaError('VMA_IO', -1, 'the file changed while it was being read (its header differs from the one read first)')
    const devices = header.deviceList.map(d => ({ id: d.id, name: d.name, size: d.size, vmstate: false, clusters: clusterCount(d.size) }))
    const w = await writeArchive(optimizedFields(header, o.keepUuid), devices, reader, {
      ...writeTargetOf(o),
      expected: () => one!.digests,
      // The plain size is known only at the end of a compressed input.
      progress: (phase, n) => o.progress?.(phase, n, -1),
      written: async () => {
        trace('pass 2 (write)', o.t0)
        one = await reader.checked()
        trace('the check (feeding pass 2) done', o.t0)
        await reader.close() // a spool of dropped devices is not needed for the proof
      },
    })
    trace('pass 3 (read back, compare; fsync meanwhile)', o.t0)
    return writtenResult(input.label, o, one!, w)
  } catch (e) {
    // A damaged input is the cause to report, even when writing failed after it.
    throw reader.failed ?? e
  } finally {
    await reader.close()
  }
}

/** The header of the optimized form: the input's, with the fixed uuid unless --keep-uuid, the creation time exact. */
function optimizedFields(h: VmaHeader, keepUuid?: boolean): HeaderFields {
  return { uuid: keepUuid ? h.uuid : FIXED_UUID, ctime: h.ctimeRaw, configs: h.configs, devices: h.deviceList }
}

/** What pass 2 writes per device: every cluster of a disk; of a vmstate stream, those the archive has. */
function emitDevices(a: CheckedArchive): EmitDevice[] {
  return a.header.deviceList.map(d => {
    const stats = a.tracker.devices[d.id]!
    return { id: d.id, name: d.name, size: d.size, vmstate: stats.vmstate, clusters: stats.vmstate ? stats.clustersSeen : clusterCount(d.size) }
  })
}

/** Where and how the optimized archive is written (writeArchive's target, less what the caller knows). */
function writeTargetOf(o: Resolved): Omit<WriteTarget, 'expected'> {
  return {
    path: o.finalPath,
    workDir: o.workDir,
    compression: o.compression,
    zstdThreads: o.zstdThreads,
    // A new file gets SRC's permission bits (the umask may narrow them); in
    // place, the new file takes everything the old one had before replacing it.
    createMode: o.srcStat && !o.inPlace ? o.srcStat.mode & 0o777 : undefined,
    keepMetadataOf: o.inPlace ? { path: o.finalPath!, uid: o.srcStat!.uid, gid: o.srcStat!.gid, mode: o.srcStat!.mode } : undefined,
    noClobber: o.isNew,
    stdout: o.stdout,
    noCheck: o.noCheck,
    keepUuid: o.keepUuid,
    align: o.align,
    what: 'optimized',
    // Sharing clones the unchanged blocks from the archives to share with while writing (src/share/clone-sink.ts).
    cloneInto:
      o.sharing?.plan.why === undefined && o.sharing
        ? async (out, temp) => {
            const c = (await o.sharing!.plan.cloneInto(out, temp))!
            return {
              sink: c.sink,
              finish: async () => {
                o.sharing!.result = await c.finish()
                trace('writes and clones done', o.t0)
              },
              abort: () => c.sink.abort(),
            }
          }
        : undefined,
  }
}

/** An optimized archive whose declared-free bytes are all zero already: trimming it again changes nothing. */
async function nothingToZero(t: PreparedTrim, indexed: IndexedArchive): Promise<boolean> {
  // Every disk with free ranges, not only those the report lists a trimmed volume on (an LV spans disks).
  for (const dev of indexed.header.deviceList) {
    if (!zeroesOn(t.plan, dev.name)) continue
    const disk = new ArchiveDisk(indexed.file, indexed.index, dev)
    if ((await t.plan.countNonZeroFree(dev.name, (buf, off) => disk.read(buf, off))) > 0) return false
  }
  return true
}
