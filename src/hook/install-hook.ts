// vma-opt hook install: makes vzdump run vma-opt's hook. From a source
// checkout it writes a wrapper (default /usr/local/sbin/vzdump-vma-opt, not
// /usr/local/bin/vma-opt-hook: that is the npm package's own bin under
// `npm i -g`) with node's and the hook's absolute paths and the options baked
// in. Run from the Debian package, the package's wrapper /usr/sbin/vzdump-vma-opt
// is the hook and only the options file /etc/vma-opt/hook.conf is written.
// Either way `--vzdump-conf` then points vzdump.conf's script: line at it.

import { existsSync, mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { VmaError, fromSystemError } from '../util/errors.js'
import { writeFileAtomic } from '../util/write-file-atomic.js'
import { formatOptionsFile, hookOptionArgs, type HookOptions } from './hook-options.js'
import { isPackaged, PACKAGED_OPTIONS, PACKAGED_WRAPPER } from './packaged.js'
import { findScriptLine, readConf, withScriptLine, writeConf } from './vzdump-conf.js'
import { isOurWrapperFile, wrapperScript } from './wrapper-script.js'

/** The hook entry of this installation (what a checkout's wrapper runs). */
export const HOOK_ENTRY = resolve(dirname(fileURLToPath(import.meta.url)), 'hook-main.js')
/** Where a checkout's wrapper goes by default. */
export const CHECKOUT_WRAPPER = '/usr/local/sbin/vzdump-vma-opt'

export interface InstallOptions extends HookOptions {
  /** The wrapper vzdump.conf names. Checkout: written here (default CHECKOUT_WRAPPER). Packaged: the package's (default PACKAGED_WRAPPER), not written. */
  path?: string
  vzdumpConf?: string
  /** Replace a script: line that names a hook not written by vma-opt. */
  force?: boolean
  /** The node binary to bake in (default: the one running now). */
  node?: string
  /** The hook entry to bake in (default: HOOK_ENTRY, this installation's). */
  entry?: string
  /** Default: whether this code runs from the Debian package's /usr/lib/vma-opt. */
  packaged?: boolean
  /** Packaged mode: where the options go (default PACKAGED_OPTIONS). */
  optionsFile?: string
}

export interface InstallResult {
  /** The wrapper vzdump runs. */
  path: string
  /** What was written: the wrapper, or (packaged) the options file. */
  wrote: string
  confLine: string
  vzdumpConf?: string
  /** The copy of the user's vzdump.conf made now (absent when one was kept from before, or nothing changed). */
  backup?: string
}

/** The checkout wrapper for these options (paths and options quoted exactly). */
export function hookScript(o: HookOptions & { node?: string; entry?: string }): string {
  return wrapperScript({ node: o.node ?? process.execPath, entry: o.entry ?? HOOK_ENTRY, args: hookOptionArgs(o), strict: o.strict })
}

/** True when vzdump.conf's script value names our wrapper (this one, or another vma-opt wrote). */
export const isOurScript = (value: string, path: string): boolean => resolve(value) === path || isOurWrapperFile(value)

/** Refuses to replace a file that is not a wrapper vma-opt wrote, or the package's wrapper from a checkout. */
function checkWrapperPath(path: string): void {
  if (path === PACKAGED_WRAPPER) throw new VmaError('VMA_USAGE', -1, `${path} belongs to the vma-opt Debian package; choose another --path`)
  if (existsSync(path) && !isOurWrapperFile(path)) throw new VmaError('VMA_EXISTS', -1, `${path} exists and was not written by vma-opt; remove it or choose another --path`)
}

export function installHook(given: InstallOptions): InstallResult {
  // The hook runs in another directory: a relative --tmpdir is made absolute now ('' is refused by hookOptionLines).
  const o = { ...given, tmpdir: given.tmpdir ? resolve(given.tmpdir) : given.tmpdir }
  const packaged = o.packaged ?? isPackaged(HOOK_ENTRY)
  const path = resolve(o.path ?? (packaged ? PACKAGED_WRAPPER : CHECKOUT_WRAPPER))
  const confLine = `script: ${path}`
  // Everything is checked before anything is written.
  const content = packaged ? formatOptionsFile(o) : hookScript(o)
  if (!packaged) checkWrapperPath(path)
  const conf = o.vzdumpConf ? readConf(resolve(o.vzdumpConf)) : undefined
  const current = conf && findScriptLine(conf.text)
  if (current && !isOurScript(current.value, path) && !o.force) {
    throw new VmaError('VMA_EXISTS', -1, `${conf!.path} already runs the hook ${current.value}; use --force to replace it`)
  }

  const wrote = packaged ? resolve(o.optionsFile ?? PACKAGED_OPTIONS) : path
  try {
    mkdirSync(dirname(wrote), { recursive: true })
  } catch (e) {
    throw fromSystemError(e, `cannot create ${dirname(wrote)}`)
  }
  writeFileAtomic(wrote, content, { mode: packaged ? 0o644 : 0o755 })
  const result: InstallResult = { path, wrote, confLine }
  if (conf) {
    result.vzdumpConf = conf.path
    if (current?.line !== confLine) result.backup = writeConf(conf, withScriptLine(conf.text, confLine))
  }
  return result
}
