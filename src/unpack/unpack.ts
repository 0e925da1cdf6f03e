// vma-opt unpack: every config under its name and every device as a sparse
// `disk-<name>.raw` (the names `vma extract` uses), from any input in any
// cluster order. Files are written as `<name>.partial` and renamed only once
// the whole archive proved complete; on any failure they are removed. Names
// are checked before anything is written and can never leave DIR.

import { existsSync, mkdirSync, renameSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { BLOCK_SIZE, CLUSTER_SIZE } from '../format/constants.js'
import { ClusterTracker } from '../format/cluster-tracker.js'
import { findDevice, noSuchDevice } from '../format/device-name.js'
import { VmaError, fromSystemError } from '../util/errors.js'
import type { VmaHeader } from '../format/header.js'
import { openInput } from '../input/archive-input.js'
import { syncDir } from '../output/output-file.js'
import { checkSpace } from '../output/space-check.js'
import { ProblemList } from '../util/problem.js'
import { removeFile, trackFile, untrackFile } from '../util/temp-files.js'
import { VmaParser } from '../format/vma-parser.js'
import type { ClusterEntry, VmaSink } from '../format/vma-sink.js'
import { isZero } from '../util/zero.js'
import { SparseWriter } from './sparse-writer.js'

export interface UnpackOptions {
  /** Only write these devices (the others are still checked). */
  devices?: string[]
  force?: boolean
  stdin?: Readable
  progress?: (bytes: number) => void
  /** Skip the up-front free-space check (output/space-check). */
  noSpaceCheck?: boolean
}

export interface UnpackedFile {
  kind: 'config' | 'device'
  name: string
  path: string
  size: number
  /** Bytes of data written (non-zero blocks), for devices. */
  written?: number
}

export interface UnpackResult {
  src: string
  dir: string
  files: UnpackedFile[]
  /** Devices checked but not written (not selected). */
  skipped: string[]
  seconds: number
}

/** The file name `vma extract` uses for a device. */
export function deviceFileName(name: string): string {
  return name === 'vmstate' ? 'vmstate.bin' : `disk-${name}.raw`
}

/** Total run-buffer memory shared by all devices being written. */
const RUN_BUDGET = 64 << 20

class UnpackSink implements VmaSink {
  readonly files: UnpackedFile[] = []
  readonly partials: string[] = []
  readonly writers: (SparseWriter | undefined)[] = []
  skipped: string[] = []
  createdDir = false
  private cur?: SparseWriter
  private readonly clusterBuf = Buffer.alloc(CLUSTER_SIZE)
  private got = 0

  constructor(
    private readonly dir: string,
    private readonly o: UnpackOptions,
  ) {}

  header(h: VmaHeader): void {
    // The tracker ran first: names are safe and unique by now.
    const asked = this.o.devices
    let wanted: string[] | undefined
    if (asked) {
      const unknown = asked.filter(n => !findDevice(h.deviceList, n))
      if (unknown.length) throw noSuchDevice(unknown, h.deviceList)
      wanted = asked.map(n => findDevice(h.deviceList, n)!.name)
    }
    const selected = h.deviceList.filter(d => !wanted || wanted.includes(d.name))
    this.skipped = h.deviceList.filter(d => !selected.includes(d)).map(d => d.name)
    const planned = [...h.configs.map(c => c.name), ...selected.map(d => deviceFileName(d.name))]
    if (!this.o.force) {
      const existing = planned.filter(n => existsSync(join(this.dir, n)))
      if (existing.length) throw new VmaError('VMA_EXISTS', -1, `${join(this.dir, existing[0]!)} exists (use --force to overwrite)`)
    }
    if (!existsSync(this.dir)) {
      try {
        mkdirSync(this.dir, { recursive: true })
      } catch (e) {
        throw fromSystemError(e, `cannot create ${this.dir}`)
      }
      this.createdDir = true
    }
    for (const c of h.configs) {
      const part = this.partial(c.name)
      try {
        writeFileSync(part, c.data, { mode: 0o600, flag: 'wx' })
      } catch (e) {
        throw fromSystemError(e, `cannot create ${part}`)
      }
      this.files.push({ kind: 'config', name: c.name, path: join(this.dir, c.name), size: c.data.length })
    }
    const runSize = Math.max(CLUSTER_SIZE, Math.min(4 << 20, Math.floor(RUN_BUDGET / Math.max(1, selected.length) / CLUSTER_SIZE) * CLUSTER_SIZE))
    for (const d of selected) {
      const file = deviceFileName(d.name)
      this.writers[d.id] = new SparseWriter(this.partial(file), d.name === 'vmstate' ? 0 : d.size, runSize)
      this.files.push({ kind: 'device', name: d.name, path: join(this.dir, file), size: d.size })
    }
  }

  private partial(name: string): string {
    const p = join(this.dir, `${name}.partial`)
    trackFile(p)
    this.partials.push(p)
    return p
  }

  cluster(e: ClusterEntry): void {
    this.cur = this.writers[e.devId]
    this.got = 0
  }

  data(chunk: Uint8Array): void {
    if (!this.cur) return
    this.clusterBuf.set(chunk, this.got)
    this.got += chunk.length
  }

  clusterEnd(e: ClusterEntry): void {
    const w = this.cur
    if (!w || e.mask === 0) return
    const base = e.cluster * CLUSTER_SIZE
    const limit = w.size === 0 ? Infinity : w.size // vmstate has no size bound
    let p = 0
    for (let j = 0; j < 16; j++) {
      if (!(e.mask & (1 << j))) continue
      const off = base + j * BLOCK_SIZE
      const len = Math.min(BLOCK_SIZE, limit - off)
      // Zero blocks are never written: the file stays sparse.
      if (len > 0 && !isZero(this.clusterBuf, p, p + len)) w.write(off, this.clusterBuf, p, len)
      p += BLOCK_SIZE
    }
  }

  /** After the archive proved complete: make every file durable and give it its name. */
  commit(): void {
    for (const w of this.writers) w?.finish()
    for (const f of this.files) {
      const part = `${f.path}.partial`
      try {
        renameSync(part, f.path)
      } catch (e) {
        throw fromSystemError(e, `cannot rename ${part}`)
      }
      untrackFile(part)
    }
    for (const w of this.writers) if (w) this.files.find(f => f.kind === 'device' && `${f.path}.partial` === w.path)!.written = w.written
  }

  abort(): void {
    for (const w of this.writers) w?.close()
    for (const p of this.partials) removeFile(p)
    if (this.createdDir) {
      try {
        rmdirSync(this.dir)
      } catch {
        // not empty: something else is in there, leave it
      }
    }
  }
}

export async function unpack(src: string, dir: string, o: UnpackOptions = {}): Promise<UnpackResult> {
  const t0 = Date.now()
  const input = await openInput(src, { stdin: o.stdin })
  // A plain file's data blocks are all in it, and only they are written (the
  // images are sparse): its size bounds what lands in DIR. A compressed
  // input's plain size is known only at its end: not checked.
  if (input.file && !o.noSpaceCheck) {
    try {
      await checkSpace(dir, input.file.size, { dir, what: "at most: the archive's size, all its data blocks" })
    } catch (e) {
      await input.close()
      throw e
    }
  }
  const sink = new UnpackSink(dir, o)
  try {
    // The tracker runs first and fails fast: nothing is written for a bad name,
    // and a bad cluster stops everything before its data lands.
    const parser = new VmaParser([new ClusterTracker(new ProblemList(true)), sink])
    for await (const chunk of input.chunks()) {
      parser.write(chunk)
      o.progress?.(parser.position)
    }
    parser.end() // missing clusters are found here, before any file gets its name
    sink.commit()
    await syncDir(dir)
    return { src: input.label, dir, files: sink.files, skipped: sink.skipped, seconds: (Date.now() - t0) / 1000 }
  } catch (e) {
    sink.abort()
    if (e instanceof VmaError) e.file ??= input.label
    throw e
  } finally {
    await input.close()
  }
}
