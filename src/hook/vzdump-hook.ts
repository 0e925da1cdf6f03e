// vma-opt-hook: what vzdump runs as its hook script. vzdump calls it as
// `HOOK PHASE [MODE VMID]` with a cleared environment (no PATH, no HOME; only
// STOREID, DUMPDIR, VMTYPE, HOSTNAME, TARGET, LOGFILE, LC_ALL=C), blocks the
// backup job while it runs, and copies every line it prints into the task log.
//
// At backup-end of a VM backup written to a local file, the archive is
// optimized in place: same name, same compression, side files (.notes, .log,
// .protected) untouched, temp files hidden from Proxmox's backup listing.
// Everything else is a no-op. A damaged archive is a failed backup (exit 1);
// any other trouble leaves the archive as it was and only warns (exit 0),
// unless --strict.

import { existsSync, readFileSync, statSync } from 'node:fs'
import { basename } from 'node:path'
import { EXIT_INVALID, EXIT_IO, VmaError } from '../util/errors.js'
import { optimize } from '../optimize/optimize.js'
import type { ShareResult } from '../share/share-blocks.js'
import { installSignalCleanup } from '../util/temp-files.js'
import { lockFile } from '../util/file-lock.js'
import { humanBytes } from '../util/human.js'
import { periodicProgress } from '../util/periodic-progress.js'
import { HOOK_LOCK_WAIT_MS, optionsFileArgs, parseHookArgs, SHARE_OR_DELTAS, type HookOptions } from './hook-options.js'
import { runReverseDeltas } from './reverse-deltas.js'
import { sharePlanFor } from './share-previous.js'
import { reportLines } from '../trim/report.js'

export { parseHookArgs, type HookOptions }

/** Names vzdump gives VM backups on file storages (pve-storage's archive_info). */
export const VZDUMP_QEMU_ARCHIVE = /^vzdump-qemu-.+\.vma(\.(zst|gz|lzo))?$/

export interface HookIO {
  log: (line: string) => void
}

/**
 * The options of --options-file (the packaged wrapper's /etc/vma-opt/hook.conf),
 * then those given on the command line. A missing file means the defaults:
 * the package's wrapper also runs before `hook install` wrote one.
 */
function withOptionsFile(o: HookOptions & { optionsFile?: string }): HookOptions {
  const { optionsFile, ...given } = o
  if (optionsFile === undefined) return given
  let text: string
  try {
    text = readFileSync(optionsFile, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return given
    throw new Error(`cannot read ${optionsFile}: ${(e as Error).message}`)
  }
  const fromFile = parseHookArgs(optionsFileArgs(text))
  if (fromFile.phase !== undefined || fromFile.options.optionsFile !== undefined) throw new Error(`${optionsFile}: not a hook option: ${fromFile.phase ?? '--options-file'}`)
  return { ...fromFile.options, ...given }
}

/** Runs one hook call; returns the exit status for vzdump. */
export async function runHook(argv: string[], env: NodeJS.ProcessEnv, io: HookIO): Promise<number> {
  let parsed
  try {
    parsed = parseHookArgs(argv)
  } catch (e) {
    io.log(`vma-opt: ${(e as Error).message}`)
    return 2
  }
  const { phase } = parsed
  if (phase !== 'backup-end') return 0
  let options: HookOptions
  try {
    options = withOptionsFile(parsed.options)
  } catch (e) {
    io.log(`vma-opt: ${(e as Error).message}`)
    return 2
  }
  const target = env.TARGET
  if (env.VMTYPE !== 'qemu' || !target || target === '-' || !target.startsWith('/')) return 0 // lxc, stdout, PBS
  if (!VZDUMP_QEMU_ARCHIVE.test(basename(target))) return 0
  // hook install refuses both; a hand-edited hook.conf with both keeps the
  // reverse deltas: their chains need each night's run, sharing does not.
  if (options.shareBlocks && options.reverseDeltas) {
    io.log(`vma-opt: WARNING: ${SHARE_OR_DELTAS}; keeping the reverse deltas, no block sharing`)
    options = { ...options, shareBlocks: false }
  }
  let before: number
  try {
    const st = statSync(target)
    if (!st.isFile()) return 0
    before = st.size
  } catch {
    return 0 // PBS snapshot names are not files
  }
  installSignalCleanup()
  // The archive is locked for the whole hook run; another vma-opt run on it
  // is waited for, but not for ever: vzdump's job (and the VM's backup lock)
  // waits for the hook.
  let lock
  try {
    lock = await lockFile(target, { wait: true, onWait: io.log, waitAtMostMs: HOOK_LOCK_WAIT_MS })
  } catch (e) {
    io.log(`vma-opt: WARNING: ${(e as Error).message}; the archive was left as it is`)
    return options.strict ? (e instanceof VmaError ? e.exitCode : EXIT_IO) : 0
  }
  try {
    return await optimizeAndConvert(target, before, options, io)
  } finally {
    lock?.release()
  }
}

/** What --share-blocks did, in one line. */
function sharedLine(name: string, shareWith: string[], s: ShareResult | undefined): string {
  if (!shareWith.length) return `${name}: first backup of the guest here, written aligned for the next to share with`
  if (!s) return `${name}: nothing shared`
  if (s.why) return `no block sharing for ${name}: ${s.why}`
  return `${name} shares ${humanBytes(s.shared)} with ${basename(shareWith[0]!)}`
}

async function optimizeAndConvert(target: string, before: number, options: HookOptions, io: HookIO): Promise<number> {
  io.log(`vma-opt: optimizing ${basename(target)} (${humanBytes(before)})`)
  try {
    const trim = options.trim ? { journal: options.trimJournal ?? 'strict', lvmFree: !!options.trimLvmFree } : undefined
    // vzdump's task log keeps every line: a long run says where it is once a minute.
    const progress = periodicProgress(line => io.log(`vma-opt: ${basename(target)}: ${line}`))
    let share = options.shareBlocks ? await sharePlanFor(target) : undefined
    if (share && 'why' in share) io.log(`vma-opt: no block sharing for ${basename(target)}: ${share.why}`)
    const run = (sharing: { align?: boolean; shareWith?: string[] }) =>
      optimize(target, { keepUuid: options.keepUuid, zstdThreads: options.zstdThreads, tmpdir: options.tmpdir, trim, progress, ...sharing })
    let r: Awaited<ReturnType<typeof optimize>>
    try {
      r = await run(share && 'shareWith' in share ? { align: true, shareWith: share.shareWith } : {})
    } catch (e) {
      // The previous backup was deleted (a prune by another job) between being
      // chosen and being read: tonight shares nothing and is optimized, still
      // aligned for tomorrow, without it. A failure of any other cause fails
      // again the same way and is reported as such.
      const prev = share && 'shareWith' in share ? share.shareWith[0] : undefined
      if (prev === undefined || existsSync(prev)) throw e
      share = { why: `${basename(prev)} was deleted (a prune) before it could be read: nothing shared` }
      io.log(`vma-opt: no block sharing for ${basename(target)}: ${share.why}`)
      r = await run({ align: true })
    }
    if (!r.written) io.log(`vma-opt: ${basename(target)} is already optimized, left unchanged (${r.seconds.toFixed(1)} s)`)
    else
      io.log(
        `vma-opt: ${basename(target)} optimized in ${r.seconds.toFixed(1)} s: ${humanBytes(before)} -> ${humanBytes(r.outputBytes)}, ${r.devices.length} device${r.devices.length === 1 ? '' : 's'} ${r.trim && r.trim.report.freeBytes > 0 ? 'proven equal to the input outside the free space' : 'proven unchanged'}`,
      )
    if (r.trim) for (const l of reportLines(r.trim.report, r.trim.zeroed, true)) io.log(`vma-opt: trim: ${l}`)
    if (share && 'shareWith' in share) io.log(`vma-opt: ${sharedLine(basename(target), share.shareWith, r.share)}`)
    return options.reverseDeltas ? await runReverseDeltas(target, options, io.log) : 0
  } catch (e) {
    const err = e instanceof VmaError ? e : undefined
    const msg = err ? `${err.message} (${err.code})` : `internal error: ${(e as Error)?.message ?? e}`
    // The chains are still looked after: their ends stay protected, broken ones are reported.
    const chains = async () => (options.reverseDeltas ? await runReverseDeltas(target, { ...options, convert: false }, io.log) : 0)
    if (err && err.exitCode === EXIT_INVALID) {
      io.log(`vma-opt: ERROR: ${basename(target)} is damaged: ${msg}; the archive was left as it is`)
      await chains()
      return EXIT_INVALID
    }
    io.log(`vma-opt: WARNING: could not optimize ${basename(target)}: ${msg}; the archive was left as it is`)
    await chains()
    return options.strict ? (err?.exitCode ?? EXIT_IO) : 0
  }
}
