import type { Argv } from 'yargs'
import { command } from '../command.js'
import type { RunningServer, ServeAddress } from '../../serve/serve.js'
import type { ClientLimits } from '../../serve/nbd-client-limits.js'
import { tmpdir } from 'node:os'
import { VmaError } from '../../util/errors.js'
import { IDLE_SECONDS, integerOption } from '../integer-option.js'
import { humanBytes } from '../../util/human.js'
import { installSignalCleanup } from '../../util/temp-files.js'
import type { CliIO, CommandResult } from '../cli-io.js'
import { makeProgress } from '../progress.js'
import { trimOptions, trimOptionsFrom, type TrimArgs } from '../trim-text.js'

interface ServeArgs extends TrimArgs {
  trim?: boolean
  deltas?: string[]
  src: string
  socket?: string
  listen?: string
  device?: string[]
  tmpdir?: string
  quiet?: boolean
  idleTimeout: number
}

/** "HOST:PORT", "[v6]:PORT" or "PORT" (then 127.0.0.1). */
export function parseListen(s: string): ServeAddress {
  const m = /^(?:\[([^\]]+)\]:|([^:]*):)?(\d{1,5})$/.exec(s)
  const port = m ? Number(m[3]) : NaN
  if (!m || port > 65535) throw new VmaError('VMA_USAGE', -1, `--listen wants HOST:PORT or PORT, not ${JSON.stringify(s)}`)
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port }
}

export function serveCommand(io: CliIO, result: CommandResult) {
  return command({
    command: 'serve <src> [deltas..]',
    describe: "Serve the archive's disks read only over NBD (for qemu-img, qemu-nbd, nbd-client, guestfish): restore one file without extracting",
    builder: (y: Argv) =>
      trimOptions(y)
        .positional('src', { type: 'string', describe: 'archive path, or - for stdin (plain, .zst, .gz or .lzo)', demandOption: true })
        .positional('deltas', { type: 'string', array: true, describe: 'deltas in chain order (as for apply): serve the newest archive of the chain' })
        .option('socket', { type: 'string', describe: 'Unix socket to listen on, mode 0600 (default: vma-opt-serve-PID.sock in the temp dir)' })
        .option('listen', { type: 'string', describe: 'listen on TCP instead: HOST:PORT, or PORT for 127.0.0.1 (no authentication, no encryption)' })
        .option('device', { type: 'string', array: true, describe: 'export only this device (drive-scsi0 or scsi0; repeatable; default: every disk)' })
        .option('tmpdir', { type: 'string', describe: 'where a pipe or compressed input is spooled (default: the system temp dir)' })
        .option('trim', { type: 'boolean', describe: "serve the disks as optimize --trim would store them: what the guests' filesystems declare free reads as zeros" })
        .option(
          'idle-timeout',
          integerOption(
            'idle-timeout',
            'drop a client that sends no request for this many seconds (0: never; a client that leaves its replies unread is dropped after at most 120 s anyway)',
            IDLE_SECONDS,
            300,
          ),
        )
        .option('quiet', { alias: 'q', type: 'boolean', describe: 'no progress, no messages about clients' })
        .conflicts('socket', 'listen')
        .example('$0 serve backup.vma.zst --socket /run/b.sock', '')
        .example("qemu-img convert -O qcow2 'nbd+unix:///drive-scsi0?socket=/run/b.sock' disk.qcow2", ''),
    handler: async args => {
      let stop: (() => Promise<void>) | undefined
      installSignalCleanup(() => void stop?.())
      const progress = makeProgress(io.stderr, 'checking', 0, !!args.quiet)
      const log = (m: string) => {
        if (!args.quiet) io.stderr.write(`vma-opt: ${m}\n`)
      }
      const limits = { idleMs: args.idleTimeout * 1000 } // checked when parsed (integerOption)
      let server: RunningServer
      const address: ServeAddress | undefined = args.listen ? parseListen(args.listen) : args.socket ? { socket: args.socket } : undefined
      try {
        if (args.deltas?.length) {
          if (args.trim) throw new VmaError('VMA_USAGE', -1, '--trim serves one archive; apply the chain first (vma-opt apply) to serve it trimmed')
          server = await serveChain(args.src, args.deltas, address, args, io, log, n => progress.update(n), limits)
        } else
          server = await (await import('../../serve/serve.js')).serveArchive(args.src, {
            address,
            devices: args.device,
            stdin: io.stdin,
            tmpdir: args.tmpdir,
            log,
            progress: n => progress.update(n),
            trim: args.trim ? trimOptionsFrom(args) : undefined,
            limits,
          })
      } finally {
        progress.done()
      }
      stop = server.close
      const where = 'socket' in server.address ? `unix socket ${server.address.socket}` : `tcp ${server.address.host}:${server.address.port}`
      io.stdout.write(`serving ${server.exports.length} export${server.exports.length === 1 ? '' : 's'} read only on ${where} (Ctrl-C to stop)\n`)
      server.exports.forEach((d, i) => io.stdout.write(`  ${server.uris[i]}  ${humanBytes(d.size)}${d === server.defaultExport ? '  (default export)' : ''}\n`))
      // Runs until a signal: the cleanup handler removes the socket and spool and exits.
      await new Promise<never>(() => undefined)
      result.exitCode = 0
    },
  })
}

/** BASE and deltas: each disk of the newest archive, every cluster from the newest link that holds it. */
async function serveChain(
  base: string,
  deltas: string[],
  address: ServeAddress | undefined,
  args: ServeArgs,
  io: CliIO,
  log: (m: string) => void,
  progress: (n: number) => void,
  limits: Partial<ClientLimits>,
): Promise<RunningServer> {
  const spoolDir = args.tmpdir ?? tmpdir()
  // Loaded when used: start-up stays short.
  const { chooseDisks, defaultAddress, serveDevices } = await import('../../serve/serve.js')
  const { openChain } = await import('../../delta/open-chain.js')
  const { ChainDeviceExport } = await import('../../delta/chain-export.js')
  const chain = await openChain(base, deltas, { stdin: io.stdin, spoolDir, progress })
  try {
    // Old-format deltas (no per-cluster checks) are proven whole before anything listens.
    await (await import('../../delta/verify-chain.js')).proveOldDeltas(chain, log)
    const newest = chain.newestFirst[0]!.indexed.header.deviceList
    const devices = chooseDisks(newest, args.device).map(d => new ChainDeviceExport(chain.newestFirst, d))
    return { ...(await serveDevices(devices, address ?? defaultAddress(), log, chain.release, limits)), spooled: false }
  } catch (e) {
    await chain.release()
    throw e
  }
}
