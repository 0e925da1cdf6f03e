// vma-opt serve: checks and indexes an archive once, then serves its disks
// to any number of NBD clients (qemu-img, qemu-nbd, nbd-client, nbdinfo,
// guestfish, the kernel) until it is closed. A plain archive is read in
// place; a compressed or piped one is spooled once to --tmpdir. Every
// client is handled on its own: whatever one sends, the others go on.
//
// Memory: the cluster index (10 bytes per 64 KiB), plus per client at most
// 128 KiB of unread input, two 256 KiB read pieces and 32 replies queued,
// whatever the client asks and however slowly it reads; at most MAX_CLIENTS
// clients. Time: nbd-client-limits (handshake deadline, idle and stall limits).

import { chmodSync, existsSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import type { Readable } from 'node:stream'
import { indexArchive, type IndexedArchive } from '../archive/index-archive.js'
import { openInput } from '../input/archive-input.js'
import { VmaError, fromSystemError } from '../util/errors.js'
import { removeFile, trackFile } from '../util/temp-files.js'
import { ClientWatchdog, DEFAULT_IDLE_MS, HANDSHAKE_MS, type ClientLimits } from './nbd-client-limits.js'
import type { TrimOptions } from '../trim/volume.js'
import type { VmaDevice } from '../format/header.js'
import { findDevice, isStateDisk, noSuchDevice } from '../format/device-name.js'
import { ArchiveDeviceExport, type ExportedDevice } from './device-export.js'
import { negotiate, type ExportSet } from './nbd-handshake.js'
import { NbdSession } from './nbd-session.js'
import { ProtocolError } from './nbd-wire.js'
import { SocketReader } from './socket-reader.js'

const MAX_CLIENTS = 64
/** A refused connection is logged at most this often (a flood of them must not flood the log). */
const REFUSAL_LOG_MS = 10_000

export type ServeAddress = { socket: string } | { host: string; port: number }

export interface ServeOptions {
  /** Where to listen (default: a Unix socket in the temp dir, named after the pid). */
  address?: ServeAddress
  /** Export only these devices (default: every disk). */
  devices?: string[]
  stdin?: Readable
  tmpdir?: string
  /** Told about spooling and about clients that were dropped. */
  log?: (msg: string) => void
  progress?: (bytes: number) => void
  /** Serve the disks as optimize --trim would store them (free space reads as zeros). */
  trim?: TrimOptions
  /** Client time limits (nbd-client-limits); by default 60 s for the handshake, 5 minutes idle. */
  limits?: Partial<ClientLimits>
}

export interface RunningServer {
  /** The exports, in the archive's order. */
  exports: readonly ExportedDevice[]
  /** The one a client gets without naming one (exportSet: the first that is not an EFI or TPM state disk). */
  defaultExport: ExportedDevice | undefined
  /** The socket path, or the TCP address actually bound (port 0 picks one). */
  address: ServeAddress
  /** URIs of every export, as qemu and libnbd take them. */
  uris: string[]
  /** True when the archive was spooled (compressed or piped). */
  spooled: boolean
  /** Stops listening, drops every client, removes the socket and any spool. */
  close(): Promise<void>
}

/**
 * Exports by name (`scsi0` for `drive-scsi0` too); the empty name, what a
 * client gets without asking, is the first disk that is not an EFI or TPM
 * state disk (on a UEFI VM the first device is the 528 KiB efidisk).
 */
function exportSet(devices: ExportedDevice[]): ExportSet {
  const main = devices.find(d => !isStateDisk(d.name)) ?? devices[0]
  return { devices, find: name => (name === '' ? main : findDevice(devices, name)) }
}

/** The disks to export (vmstate is RAM, not a disk), all or those named, in the archive's order. */
export function chooseDisks(list: readonly VmaDevice[], names: string[] | undefined): VmaDevice[] {
  const disks = list.filter(d => d.name !== 'vmstate')
  const chosen = names?.length
    ? [...new Set(names)].map(n => {
        const d = findDevice(disks, n)
        if (!d) throw noSuchDevice([n], disks)
        return d
      })
    : disks
  if (chosen.length === 0) throw new VmaError('VMA_USAGE', -1, 'the archive has no disk to serve')
  return chosen
}

function chooseDevices(idx: IndexedArchive, names: string[] | undefined): ExportedDevice[] {
  return chooseDisks(idx.header.deviceList, names).map(d => new ArchiveDeviceExport(d, idx.file, idx.index))
}

/** The chosen exports with free space zeroed, planned over every disk of the archive (LVs may span disks). */
async function trimmedDevices(idx: IndexedArchive, devices: ExportedDevice[], opts: TrimOptions, log: (m: string) => void): Promise<ExportedDevice[]> {
  // Loaded only with --trim: the filesystem readers are a quarter of the
  // program, and start-up is what a plain serve waits for.
  const [{ ArchiveDisk }, { planTrim }, { zeroesOn }, { reportLines }, { TrimmedDeviceExport }] = await Promise.all([
    import('../trim/disk/archive-disk.js'),
    import('../trim/plan.js'),
    import('../trim/trim-step.js'),
    import('../trim/report.js'),
    import('./trimmed-export.js'),
  ])
  const plan = await planTrim(
    idx.header.deviceList.map(d => new ArchiveDisk(idx.file, idx.index, d)),
    opts,
  )
  for (const line of reportLines(plan.report)) log(`trim: ${line}`)
  return devices.map(d => (zeroesOn(plan, d.name) ? new TrimmedDeviceExport(d, plan.zeroer(d.name)) : d))
}

/** A Unix socket in the temp dir, named after the pid. */
export function defaultAddress(): ServeAddress {
  return { socket: `${tmpdir()}/vma-opt-serve-${process.pid}.sock` }
}

export function uriFor(a: ServeAddress, name: string): string {
  if ('socket' in a) return `nbd+unix:///${encodeURIComponent(name)}?socket=${a.socket}`
  const host = a.host.includes(':') ? `[${a.host}]` : a.host
  return `nbd://${host}:${a.port}/${encodeURIComponent(name)}`
}

export async function serveArchive(src: string, o: ServeOptions = {}): Promise<RunningServer> {
  const log = o.log ?? (() => undefined)
  const input = await openInput(src, { stdin: o.stdin })
  let idx: IndexedArchive | undefined
  try {
    const spoolDir = o.tmpdir ?? tmpdir()
    if (!input.file) log(`${input.label}: ${input.compression !== 'none' ? `${input.compression}-compressed` : 'not a plain file'}, spooling it uncompressed to ${spoolDir} once`)
    idx = await indexArchive(input, { spoolDir, progress: o.progress, form: false })
    let devices = chooseDevices(idx, o.devices)
    if (o.trim) devices = await trimmedDevices(idx, devices, o.trim, log)
    const index = idx
    const server = await serveDevices(
      devices,
      o.address ?? defaultAddress(),
      log,
      async () => {
        await index.release()
        await input.close()
      },
      o.limits,
    )
    return { ...server, spooled: !input.file }
  } catch (e) {
    if (e instanceof VmaError) e.file ??= input.label
    await idx?.release()
    await input.close()
    throw e
  }
}

/**
 * Serves any ExportedDevice list: the seam for views other than one archive
 * (a trimmed view, a delta chain), which build their devices and call this.
 * `onClose` releases what the devices read from.
 */
export async function serveDevices(
  devices: ExportedDevice[],
  want: ServeAddress,
  log: (m: string) => void = () => undefined,
  onClose: () => Promise<void> = async () => undefined,
  limits: Partial<ClientLimits> = {},
): Promise<Omit<RunningServer, 'spooled'>> {
  const set = exportSet(devices)
  const full: ClientLimits = { handshakeMs: limits.handshakeMs ?? HANDSHAKE_MS, idleMs: limits.idleMs ?? DEFAULT_IDLE_MS }
  const clients = new Set<Socket>()
  let accepted = 0
  let refused = 0
  let refusalLogged = -Infinity
  // Half-open: a client may shut down its side after its last request and
  // still wait for the replies; the server ends its side once they are out.
  const server = createServer({ allowHalfOpen: true }, sock => {
    const label = `client ${++accepted}${sock.remoteAddress && sock.remotePort ? ` (${sock.remoteAddress}:${sock.remotePort})` : ''}`
    if (clients.size >= MAX_CLIENTS) {
      sock.on('error', () => undefined)
      sock.destroy()
      refused++
      if (Date.now() - refusalLogged >= REFUSAL_LOG_MS) {
        log(`refused ${refused === 1 ? label : `${refused} clients`}: ${MAX_CLIENTS} clients are connected already${full.idleMs ? '' : ' (with --idle-timeout, idle ones would be dropped)'}`)
        refusalLogged = Date.now()
        refused = 0
      }
      return
    }
    clients.add(sock)
    sock.once('close', () => clients.delete(sock))
    void serveClient(sock, set, full, m => log(`${label}: ${m}`))
  })
  const address = await bind(server, want)
  // After binding, an error (EMFILE on accept, say) concerns one connection, not the server.
  server.on('error', e => log(`accept failed: ${e.message}`))
  let closed = false
  return {
    exports: devices,
    defaultExport: set.find(''),
    address,
    uris: devices.map(d => uriFor(address, d.name)),
    close: async () => {
      if (closed) return
      closed = true
      for (const c of clients) c.destroy()
      await new Promise<void>(r => server.close(() => r()))
      if ('socket' in address) removeFile(address.socket)
      await onClose()
    },
  }
}

/** Listens; a Unix socket is created mode 0600 (umask while binding, chmod after) and removed on exit. */
async function bind(server: Server, a: ServeAddress): Promise<ServeAddress> {
  const fail = (e: unknown) => fromSystemError(e, `cannot listen on ${'socket' in a ? a.socket : `${a.host}:${a.port}`}`)
  if ('socket' in a) {
    // sun_path holds 108 bytes with the NUL; longer paths fail with a misleading EADDRINUSE.
    const len = Buffer.byteLength(a.socket)
    if (len > 107) throw new VmaError('VMA_USAGE', -1, `the socket path is ${len} bytes long, Unix sockets allow 107: choose a shorter --socket`)
    if (existsSync(a.socket)) throw new VmaError('VMA_EXISTS', -1, `${a.socket} already exists (another serve? remove it if not)`)
    const old = process.umask(0o177)
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(a.socket, () => resolve())
      })
    } catch (e) {
      throw fail(e)
    } finally {
      process.umask(old)
    }
    trackFile(a.socket)
    chmodSync(a.socket, 0o600)
    return a
  }
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(a.port, a.host, () => resolve())
    })
  } catch (e) {
    throw fail(e)
  }
  const got = server.address()
  return typeof got === 'object' && got ? { host: a.host, port: got.port } : a
}

/** One client from handshake to disconnect; nothing it does escapes as an exception. */
async function serveClient(sock: Socket, set: ExportSet, limits: ClientLimits, log: (m: string) => void): Promise<void> {
  sock.setNoDelay?.(true)
  sock.on('error', () => undefined) // resets and broken pipes end this client only
  const reader = new SocketReader(sock)
  let session: NbdSession | undefined
  const watchdog = new ClientWatchdog(
    limits,
    () => session?.busy ?? sock.writableLength > 0,
    why => {
      log(`dropped: ${why}`)
      sock.destroy()
    },
  )
  sock.once('close', () => watchdog.stop())
  try {
    const neg = await negotiate(sock, reader, set)
    watchdog.connected()
    if (!neg) return
    session = new NbdSession(sock, reader, neg, log, () => watchdog.touch())
    await session.run()
  } catch (e) {
    if (e instanceof ProtocolError) log(`dropped: ${e.message}`)
    else if (!sock.destroyed) log(`dropped: ${(e as Error).message}`)
  } finally {
    if (!sock.destroyed) {
      sock.end()
      // Once its last replies are out, the client has a moment to close its side too.
      sock.once('finish', () => setTimeout(() => sock.destroy(), 5000).unref())
    }
  }
}
