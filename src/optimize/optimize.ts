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

import { createReadStream } from 'node:fs'
import { stat, chown } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Readable, Writable } from 'node:stream'
import { clusterCount } from '../cluster-tracker.js'
import { OPTIMIZED_UUID } from '../constants.js'
import type { DeviceDigest } from '../content-digest.js'
import { VmaError, fromSystemError } from '../errors.js'
import { openInput } from '../input/archive-input.js'
import { inspectArchive } from '../inspect.js'
import { parseUuid } from '../uuid.js'
import { indexArchive, type IndexedArchive } from './index-archive.js'
import { ArchiveClusterReader } from './archive-cluster-reader.js'
import { emitOptimized, type EmitDevice } from './emit.js'
import { OutputFile, tempNameFor, type OutputCompression } from './output-file.js'

export interface OptimizeOptions {
  /** Destination path; "-" for stdout; undefined to replace SRC in place (stdout when SRC is "-"). */
  dest?: string
  /** Output compression; by default from the destination's extension. */
  compress?: OutputCompression
  keepUuid?: boolean
  /** Where spool files go (and the temp output when writing to stdout). */
  tmpdir?: string
  /** Skip the final read-back proof (not recommended). */
  noCheck?: boolean
  zstdThreads?: number
  stdin?: Readable
  stdout?: Writable
  forceFzstd?: boolean
  progress?: (phase: 'reading' | 'writing' | 'checking', done: number, total: number) => void
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
}

export function compressionFromName(path: string): OutputCompression {
  if (/\.zst$/i.test(path)) return 'zstd'
  if (/\.gz$/i.test(path)) return 'gzip'
  if (/\.lzo$/i.test(path)) return 'lzop'
  return 'none'
}

/** Pass 3: the written file, read back by the ordinary reader, must hold the same content in the optimized form. */
async function proveOutput(path: string, one: IndexedArchive, keepUuid: boolean): Promise<void> {
  const r = await inspectArchive(path, { failFast: true, digest: true })
  const fail = (what: string) => {
    throw new VmaError('VMA_DIGEST_MISMATCH', -1, `the optimized output failed its check: ${what}; nothing was replaced`)
  }
  const want = new Map(one.digests.map(d => [d.id, d]))
  if (r.devices.length !== want.size) fail(`it has ${r.devices.length} devices, the input ${want.size}`)
  for (const d of r.devices) {
    const w = want.get(d.id)
    if (!w) fail(`device id ${d.id} is not in the input`)
    else if (w.name !== d.name || w.size !== d.size) fail(`device ${d.id} is ${d.name} (${d.size} bytes), the input's is ${w.name} (${w.size} bytes)`)
    else if (w.digest !== d.digest) fail(`device ${d.name} content digest ${d.digest} differs from the input's ${w.digest}`)
  }
  const inCfg = one.header.configs
  const outCfg = r.header.configs
  if (inCfg.length !== outCfg.length || inCfg.some((c, i) => c.name !== outCfg[i]!.name || !c.data.equals(outCfg[i]!.data))) fail('the configs differ')
  if (r.ctime !== one.header.ctime) fail('the creation time differs')
  if (r.formReasons.length || (!keepUuid && !r.fixedUuid)) fail(`it is not in the optimized form (${[...r.formReasons, ...(r.fixedUuid ? [] : ['uuid'])].join('; ')})`)
}

/** VMA_OPT_TRACE=1 prints how long each pass took, for tuning. */
const trace = process.env.VMA_OPT_TRACE ? (what: string, since: number) => process.stderr.write(`trace: ${what} ${((Date.now() - since) / 1000).toFixed(2)} s\n`) : () => undefined

export async function optimize(src: string, o: OptimizeOptions = {}): Promise<OptimizeResult> {
  const t0 = Date.now()
  const toStdout = o.dest === '-' || (o.dest === undefined && src === '-')
  let inPlace = o.dest === undefined && src !== '-'
  const finalPath = toStdout ? undefined : (o.dest ?? src)
  const srcStat = src === '-' ? undefined : await stat(src).catch(e => {
    throw fromSystemError(e, `cannot open ${src}`)
  })
  if (!inPlace && finalPath && srcStat) {
    const d = await stat(finalPath).catch(() => undefined)
    if (d && d.dev === srcStat.dev && d.ino === srcStat.ino) inPlace = true
  }
  const compression = o.compress ?? (finalPath ? compressionFromName(finalPath) : 'none')
  const workDir = o.tmpdir ?? (finalPath ? dirname(finalPath) : tmpdir())
  const input = await openInput(src, { stdin: o.stdin, forceFzstd: o.forceFzstd })
  const total = srcStat?.size ?? -1
  let one: IndexedArchive | undefined
  try {
    one = await indexArchive(input, { spoolDir: workDir, digest: true, progress: n => o.progress?.('reading', n, input.compression === 'none' ? total : -1) })
    trace('pass 1 (read, check, digest, index)', t0)
    const alreadyOptimized = one.form.optimized(!!o.keepUuid)
    const base = {
      src: input.label,
      compression,
      inputBytes: total,
      plainBytes: one.plainBytes,
      alreadyOptimized,
      devices: one.digests,
    }
    if (alreadyOptimized && inPlace && compression === input.compression) {
      return { ...base, dest: src, outputBytes: total, plainOutputBytes: one.plainBytes, written: false, checked: false, seconds: (Date.now() - t0) / 1000 }
    }

    // Pass 2: write the optimized form next to its destination.
    const devices: EmitDevice[] = one.header.deviceList.map(d => {
      const stats = one!.tracker.devices[d.id]!
      return { id: d.id, name: d.name, size: d.size, vmstate: stats.vmstate, clusters: stats.vmstate ? stats.clustersSeen : clusterCount(d.size) }
    })
    const uuid = o.keepUuid ? one.header.uuid : parseUuid(OPTIMIZED_UUID)
    const tempPath = tempNameFor(finalPath ?? join(workDir, 'stdout.vma'))
    const out = await OutputFile.create(tempPath, { compression, zstdThreads: o.zstdThreads, mode: inPlace ? srcStat!.mode & 0o7777 : undefined })
    try {
      const fields = { uuid, ctime: one.header.ctime, configs: one.header.configs, devices: one.header.deviceList }
      const reader = new ArchiveClusterReader(one.file, one.index)
      const plainOut = await emitOptimized(fields, devices, reader, out, n => o.progress?.('writing', n, one!.plainBytes))
      trace('pass 2 (write)', t0)
      await out.finish()
      trace('pass 2 (finish, fsync)', t0)
      await one.release() // the spool is no longer needed while we check
      // Pass 3: prove it.
      if (!o.noCheck) {
        o.progress?.('checking', 0, -1)
        await proveOutput(tempPath, one, !!o.keepUuid)
        trace('pass 3 (read back, compare)', t0)
      }
      const outputBytes = (await stat(tempPath)).size
      if (inPlace && srcStat) await chown(tempPath, srcStat.uid, srcStat.gid).catch(() => undefined)
      if (finalPath) await out.commit(finalPath)
      else {
        await pipeline(createReadStream(tempPath), o.stdout ?? process.stdout, { end: false }).catch(e => {
          throw fromSystemError(e, 'cannot write to stdout')
        })
        await out.abort() // removes the temp file
      }
      return { ...base, dest: finalPath ?? '-', outputBytes, plainOutputBytes: plainOut, written: true, checked: !o.noCheck, seconds: (Date.now() - t0) / 1000 }
    } catch (e) {
      await out.abort()
      throw e
    }
  } catch (e) {
    if (e instanceof VmaError) e.file ??= input.label
    throw e
  } finally {
    await one?.release()
    await input.close()
  }
}
