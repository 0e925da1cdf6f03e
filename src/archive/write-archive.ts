// Writes an archive in the optimized form to its destination the safe way:
// a hidden temp file next to it (through a compressor if asked), read back
// through the ordinary reader and compared with what was meant to be written
// (per-device digests, configs, ctime, form), then fsync, rename, fsync dir.
// Shared by optimize and pack.

import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Writable } from 'node:stream'
import type { DeviceDigest } from '../check/content-digest.js'
import { VmaError, fromSystemError } from '../util/errors.js'
import type { HeaderFields } from '../format/header.js'
import type { VmaSink } from '../format/vma-sink.js'
import { inspectArchive } from '../check/inspect.js'
import { emitOptimized, type ByteSink, type ClusterReader, type EmitDevice } from './emit.js'
import { OutputFile, tempNameFor, type OutputCompression } from '../output/output-file.js'
import { keepMetadata, type KeepFrom } from '../output/keep-metadata.js'

export interface WriteTarget {
  /** Final path, or undefined for stdout. */
  path?: string
  /** Where the temp file goes when writing to stdout. */
  workDir: string
  compression: OutputCompression
  zstdThreads?: number
  /** Mode a new file is created with (the umask applies); default 0600. */
  createMode?: number
  /** DEST was checked not to exist: never replace one that appeared meanwhile. */
  noClobber?: boolean
  /** In place: the new file takes this file's owner, group, xattrs, ACLs and mode before it replaces it. */
  keepMetadataOf?: KeepFrom
  stdout?: Writable
  noCheck?: boolean
  /** The uuid is not the fixed one on purpose (--keep-uuid). */
  keepUuid?: boolean
  /** Write the aligned form: every data block at a multiple of 4 KiB (spec/optimized-form.md). */
  align?: boolean
  /** What the check compares with; called after writing (pack computes digests while reading). */
  expected: () => DeviceDigest[]
  /** What the command is called in messages. */
  what: string
  progress?: (phase: 'writing' | 'proving', done: number) => void
  /**
   * The error when the output does not hold what `expected` says. By default
   * vma-opt's own fault (exit 4: the input passed every check); apply, whose
   * expectation is a delta's record, says the chain is damaged instead.
   */
  mismatch?: (what: string) => VmaError
  /** More for the read-back proof: sinks fed in the same pass, then a check that returns a reason on failure (trim's metadata guard). */
  proof?: { sinks(): VmaSink[]; check(): string | undefined }
  /** Called when the data has been written, before the check (optimize frees its spool here). */
  written?: () => Promise<void>
  /**
   * Block sharing while writing (optimize --share-with, src/share/clone-sink):
   * the data goes through the returned sink into the temp file; `finish`
   * waits for its writes and clones before the file is ended.
   */
  cloneInto?: (out: OutputFile, tempPath: string) => Promise<{ sink: ByteSink; finish(): Promise<void>; abort(): Promise<void> }>
}

export interface WriteResult {
  plainBytes: number
  outputBytes: number
  checked: boolean
}

export async function writeArchive(fields: HeaderFields, devices: EmitDevice[], reader: ClusterReader, t: WriteTarget): Promise<WriteResult> {
  const tempPath = tempNameFor(t.path ?? join(t.workDir, 'stdout.vma'))
  const out = await OutputFile.create(tempPath, { compression: t.compression, zstdThreads: t.zstdThreads, createMode: t.createMode, shownAs: t.path ?? 'stdout' })
  let durable: Promise<void> | undefined
  let via: Awaited<ReturnType<NonNullable<WriteTarget['cloneInto']>>> | undefined
  try {
    via = await t.cloneInto?.(out, tempPath)
    const plainBytes = await emitOptimized(fields, devices, reader, via?.sink ?? out, n => t.progress?.('writing', n), t.align)
    await via?.finish()
    via = undefined
    await out.end()
    // The disk writes the file back while the check reads it from the page
    // cache: the proof covers the bytes the fsync makes durable, and nothing
    // is published before both are done.
    durable = out.finish()
    durable.catch(() => undefined) // awaited below
    await t.written?.()
    if (!t.noCheck) {
      t.progress?.('proving', 0)
      await proveOutput(tempPath, fields, t.expected(), t)
    }
    await durable
    const outputBytes = (await stat(tempPath)).size
    if (t.keepMetadataOf) await keepMetadata(tempPath, t.keepMetadataOf) // a failure is an error, never swallowed
    if (t.path) await out.commit(t.path, t.noClobber)
    else {
      await pipeline(createReadStream(tempPath), t.stdout ?? process.stdout, { end: false }).catch(e => {
        throw fromSystemError(e, 'cannot write to stdout')
      })
      await out.abort() // removes the temp file
    }
    return { plainBytes, outputBytes, checked: !t.noCheck }
  } catch (e) {
    await via?.abort()
    await durable?.catch(() => undefined) // the file is closed before it is removed
    await out.abort()
    throw e
  }
}

/** The written file, read back by the ordinary reader, must hold exactly what was meant. */
async function proveOutput(path: string, fields: HeaderFields, expected: DeviceDigest[], t: WriteTarget): Promise<void> {
  const r = await inspectArchive(path, { failFast: true, digest: true, extra: t.proof?.sinks(), progress: n => t.progress?.('proving', n) })
  const fail = (what: string) => {
    if (t.mismatch) throw t.mismatch(what)
    // The input passed every check: the fault is vma-opt's own (exit 4), not the archive's.
    throw new VmaError('VMA_DIGEST_MISMATCH', -1, `internal error: vma-opt's ${t.what} output failed its read-back check: ${what}; nothing was replaced, the input is not damaged (please report this)`)
  }
  const want = new Map(expected.map(d => [d.id, d]))
  if (r.devices.length !== want.size) fail(`it has ${r.devices.length} devices instead of ${want.size}`)
  for (const d of r.devices) {
    const w = want.get(d.id)
    if (!w) fail(`device id ${d.id} is not in the input`)
    else if (w.name !== d.name || w.size !== d.size) fail(`device ${d.id} is ${d.name} (${d.size} bytes), the input's is ${w.name} (${w.size} bytes)`)
    else if (w.digest !== d.digest) fail(`device ${d.name} content digest ${d.digest} differs from the input's ${w.digest}`)
  }
  const outCfg = r.header.configs
  if (fields.configs.length !== outCfg.length || fields.configs.some((c, i) => c.name !== outCfg[i]!.name || !Buffer.from(c.data).equals(outCfg[i]!.data))) {
    fail('the configs differ')
  }
  if (r.header.ctimeRaw !== BigInt(fields.ctime)) fail('the creation time differs')
  const extra = t.proof?.check()
  if (extra) fail(extra)
  if (r.formReasons.length || (!t.keepUuid && !r.fixedUuid)) fail(`it is not in the optimized form (${[...r.formReasons, ...(r.fixedUuid ? [] : ['uuid'])].join('; ')})`)
  if (t.align && !r.aligned) fail('its data blocks are not all at multiples of 4 KiB')
}
