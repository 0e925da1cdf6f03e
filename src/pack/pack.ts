// vma-opt pack: raw images and config files into an archive Proxmox can
// restore, written directly in the optimized form, so pack(unpack(x)) with
// the same ctime is byte for byte optimize(x). Refuses what Proxmox could
// not restore rather than writing it.

import { readdirSync, statSync, readFileSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import type { Writable } from 'node:stream'
import { BLOCK_SIZE, MAX_DEV_ID, OPTIMIZED_UUID } from '../format/constants.js'
import { clusterCount } from '../format/cluster-tracker.js'
import { ContentDigest, type DeviceDigest } from '../check/content-digest.js'
import { VmaError, fromSystemError } from '../util/errors.js'
import { withFileLock, type LockOptions } from '../util/file-lock.js'
import { loadHasher } from '../util/hasher.js'
import { roundUp512 } from '../format/header.js'
import { PositionalFile } from '../input/positional-file.js'
import { unsafeNameReason } from '../format/names.js'
import { compressionFromName, type OutputCompression } from '../output/output-file.js'
import { archiveBound, checkSpace } from '../output/space-check.js'
import { writeArchive } from '../archive/write-archive.js'
import { parseUuid } from '../format/uuid.js'
import type { ClusterReader } from '../archive/emit.js'
import { ImageDisk } from '../trim/disk/image-disk.js'
import { prepareTrim, type TrimResult } from '../trim/trim-step.js'
import type { TrimOptions } from '../trim/volume.js'
import { ImageClusterReader } from './image-cluster-reader.js'

export interface PackDisk {
  name: string
  path: string
}

export interface PackOptions {
  /** Wait for another run that holds DEST instead of failing. */
  lock?: LockOptions
  configs?: string[]
  disks?: PackDisk[]
  compress?: OutputCompression
  /** Creation time in Unix seconds (default: now). */
  ctime?: number
  zstdThreads?: number
  tmpdir?: string
  noCheck?: boolean
  force?: boolean
  stdout?: Writable
  /** Called with a note for the user (an image padded to 512 bytes). */
  note?: (msg: string) => void
  progress?: (phase: string, done: number) => void
  /** Zero what the images' filesystems declare free (src/trim/). */
  trim?: TrimOptions
  /** Skip the up-front free-space check (output/space-check). */
  noSpaceCheck?: boolean
}

export interface PackResult {
  dest: string
  compression: OutputCompression
  outputBytes: number
  plainBytes: number
  configs: { name: string; size: number }[]
  devices: DeviceDigest[]
  padded: string[]
  checked: boolean
  seconds: number
  trim?: TrimResult
}

const cannot = (msg: string) => new VmaError('VMA_CANNOT_PACK', -1, msg)

/** The layout `unpack` writes: configs, and disks as disk-<name>.raw; configs ordered as vzdump adds them. */
export function readPackDir(dir: string): { configs: string[]; disks: PackDisk[] } {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch (e) {
    throw fromSystemError(e, `cannot read ${dir}`)
  }
  const configs: string[] = []
  const disks: PackDisk[] = []
  for (const n of names.sort()) {
    if (n.startsWith('.') || n.endsWith('.partial')) continue
    const p = join(dir, n)
    if (!statSync(p).isFile()) continue
    const m = /^disk-(.+)\.raw$/.exec(n)
    if (m) disks.push({ name: m[1]!, path: p })
    else if (n === 'vmstate.bin') throw cannot(`${p}: vmstate streams cannot be packed`)
    else configs.push(p)
  }
  const rank = (p: string) => (basename(p) === 'qemu-server.conf' ? 0 : basename(p) === 'qemu-server.fw' ? 1 : 2)
  configs.sort((a, b) => rank(a) - rank(b) || (basename(a) < basename(b) ? -1 : 1))
  return { configs, disks }
}

/** Why a device name cannot go into an archive Proxmox restores, or undefined. */
function badDeviceName(name: string): string | undefined {
  const unsafe = unsafeNameReason(name)
  if (unsafe) return unsafe
  if (/[\s,=:]/.test(name)) return `device name ${JSON.stringify(name)} contains white space, ',', '=' or ':', which qmrestore's device map cannot carry`
  if (name === 'vmstate') return 'the device name "vmstate" is reserved'
  return undefined
}

/** Bytes a file has allocated on disk (a sparse image's data is at most that). */
function allocatedBytes(path: string): number {
  return statSync(path).blocks * 512
}

export async function pack(dest: string, o: PackOptions): Promise<PackResult> {
  // DEST is locked for the whole run (util/file-lock): a second pack onto it waits or fails.
  return withFileLock(dest === '-' ? undefined : dest, o.lock, () => packLocked(dest, o))
}

async function packLocked(dest: string, o: PackOptions): Promise<PackResult> {
  const t0 = Date.now()
  const configPaths = o.configs ?? []
  const disks = [...(o.disks ?? [])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  if (configPaths.length === 0 && disks.length === 0) throw cannot('nothing to pack: give --config and --disk, or a directory')
  if (configPaths.length > 256) throw cannot(`${configPaths.length} configs do not fit the 256 config slots`)
  if (disks.length > MAX_DEV_ID) throw cannot(`${disks.length} disks: Proxmox archives hold at most ${MAX_DEV_ID}`)

  const configs = configPaths.map(p => {
    const name = basename(p)
    const bad = unsafeNameReason(name)
    if (bad) throw cannot(`config ${p}: ${bad}`)
    let size: number
    try {
      const st = statSync(p)
      if (!st.isFile()) throw cannot(`config ${p} is not a regular file`)
      size = st.size
    } catch (e) {
      throw e instanceof VmaError ? e : fromSystemError(e, `cannot read config ${p}`)
    }
    if (size > 65535) throw cannot(`config ${p} is ${size} bytes; a VMA config holds at most 65535`)
    return { name, data: readFileSync(p) }
  })
  const seen = new Set<string>()
  for (const c of configs) {
    if (seen.has(c.name)) throw cannot(`two configs are named ${JSON.stringify(c.name)}`)
    seen.add(c.name)
  }

  const images = new Map<number, PositionalFile>()
  const padded: string[] = []
  try {
    const devices = []
    const names = new Set<string>()
    for (const [i, disk] of disks.entries()) {
      const bad = badDeviceName(disk.name)
      if (bad) throw cannot(`disk ${disk.path}: ${bad}`)
      if (names.has(disk.name)) throw cannot(`two disks are named ${JSON.stringify(disk.name)}`)
      names.add(disk.name)
      const f = await PositionalFile.open(disk.path)
      images.set(i + 1, f)
      if (f.size < 0) throw cannot(`disk ${disk.path} is not a regular file (block devices: read them into a file or use a pipe-friendly tool first)`)
      if (f.size === 0) throw cannot(`disk ${disk.path} is empty; Proxmox refuses devices of size 0`)
      if (f.size > 2 ** 48) throw cannot(`disk ${disk.path} is larger than 2^32 clusters`)
      const size = roundUp512(f.size)
      if (size !== f.size) {
        padded.push(disk.name)
        o.note?.(`${disk.path}: ${f.size} bytes is not a multiple of 512; padded with zeros to ${size} (Proxmox restores whole sectors)`)
      }
      devices.push({ id: i + 1, name: disk.name, size, clusters: clusterCount(size), vmstate: false })
    }

    const finalPath = dest === '-' ? undefined : dest
    const existing = finalPath ? await stat(finalPath).catch(() => undefined) : undefined
    if (existing && !o.force) throw new VmaError('VMA_EXISTS', -1, `${finalPath} exists (use --force to overwrite)`)
    // Even with --force, a device or FIFO is never replaced by a regular file of its name.
    if (existing && !existing.isFile()) throw new VmaError('VMA_USAGE', -1, `${finalPath} is not a regular file; pack replaces only regular files (use - to write to stdout)`)
    const compression = o.compress ?? (finalPath ? compressionFromName(finalPath) : 'none')
    if (finalPath && !o.noSpaceCheck) {
      // Every block an image has allocated may be data (holes read as zeros and are never stored).
      const storedBlocks = disks.reduce((n, d, i) => n + Math.ceil(Math.min(images.get(i + 1)!.size, allocatedBytes(d.path)) / BLOCK_SIZE), 0)
      const clusters = devices.reduce((n, d) => n + d.clusters, 0)
      await checkSpace(finalPath, archiveBound({ clusters, storedBlocks, devices: devices.length }) + configs.reduce((n, c) => n + c.data.length, 0), {
        what: compression === 'none' ? 'at most, from the blocks the images have allocated' : 'at most, from the blocks the images have allocated, before compression',
      })
    }
    const digest = new ContentDigest(await loadHasher())
    for (const d of devices) digest.addDevice(d.id, d.name, d.size)
    const fields = {
      uuid: parseUuid(OPTIMIZED_UUID),
      ctime: o.ctime ?? Math.floor(Date.now() / 1000),
      configs,
      devices: devices.map(d => ({ id: d.id, name: d.name, size: d.size })),
    }
    let reader: ClusterReader = new ImageClusterReader(images, digest)
    const trimmer = o.trim
      ? await prepareTrim(
          devices.map(d => ({ id: d.id, disk: new ImageDisk(d.name, d.size, images.get(d.id)!) })),
          devices,
          reader,
          o.trim,
        )
      : undefined
    if (trimmer) reader = trimmer.reader
    const w = await writeArchive(fields, devices, reader, {
      path: finalPath,
      workDir: o.tmpdir ?? (finalPath ? dirname(finalPath) : tmpdir()),
      compression,
      zstdThreads: o.zstdThreads,
      noClobber: !existing, // a DEST created while this ran is not replaced either
      stdout: o.stdout,
      noCheck: o.noCheck,
      expected: () => (trimmer ? trimmer.expected(digest.result()) : digest.result()),
      proof: trimmer?.proof,
      what: 'packed',
      progress: o.progress,
    })
    return {
      dest,
      compression,
      outputBytes: w.outputBytes,
      plainBytes: w.plainBytes,
      configs: configs.map(c => ({ name: c.name, size: c.data.length })),
      devices: trimmer ? trimmer.expected(digest.result()) : digest.result(),
      ...(trimmer ? { trim: trimmer.result() } : {}),
      padded,
      checked: w.checked,
      seconds: (Date.now() - t0) / 1000,
    }
  } finally {
    for (const f of images.values()) await f.close()
  }
}
