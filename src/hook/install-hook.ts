// vma-opt hook install: makes vzdump run vma-opt's hook. From a source
// checkout it writes a wrapper (default /usr/local/sbin/vzdump-vma-opt, not
// /usr/local/bin/vma-opt-hook: that is the npm package's own bin under
// `npm i -g`) with node's and the hook's absolute paths and the options baked
// in. Run from the Debian package, the package's wrapper /usr/sbin/vzdump-vma-opt
// is the hook and only the options file /etc/vma-opt/hook.conf is written.
// Either way `--vzdump-conf` then points vzdump.conf's script: line at it.

import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { VmaError, fromSystemError } from '../util/errors.js'
import { writeFileAtomic } from '../util/write-file-atomic.js'
import { formatOptionsFile, hookOptionArgs, optionsFileArgs, parseHookArgs, type HookOptions } from './hook-options.js'
import { isPackaged, PACKAGED_NODE, PACKAGED_OPTIONS, PACKAGED_WRAPPER } from './packaged.js'
import { findScriptLine, readConf, withScriptLine, writeConf } from './vzdump-conf.js'
import { chainedHook, isOurWrapperFile, wrapperScript } from './wrapper-script.js'

/** The hook entry of this installation (what a checkout's wrapper runs). */
export const HOOK_ENTRY = resolve(dirname(fileURLToPath(import.meta.url)), 'hook-main.js')
/** Where a checkout's wrapper goes by default. */
export const CHECKOUT_WRAPPER = '/usr/local/sbin/vzdump-vma-opt'
/** The vzdump.conf whose hook is the default wrapper (the package's, or CHECKOUT_WRAPPER). */
export const SYSTEM_VZDUMP_CONF = '/etc/vzdump.conf'
/** The name of the wrapper written beside any other vzdump.conf. */
export const WRAPPER_NAME = 'vzdump-vma-opt'

/**
 * The wrapper install and uninstall work on when no --path is given. For
 * /etc/vzdump.conf (or none) it is the system's (the package's wrapper with
 * /etc/vma-opt/hook.conf, or CHECKOUT_WRAPPER); for any other vzdump.conf (a
 * scratch copy, a test) it is a wrapper of its own beside that file, options
 * baked in, so that nothing outside the paths given is written (issue 25).
 */
export function defaultWrapper(o: { path?: string; vzdumpConf?: string; packaged: boolean; packagedWrapper: string }): string {
  if (o.path !== undefined) return resolve(o.path)
  if (o.vzdumpConf !== undefined && resolve(o.vzdumpConf) !== SYSTEM_VZDUMP_CONF) return join(dirname(resolve(o.vzdumpConf)), WRAPPER_NAME)
  return o.packaged ? o.packagedWrapper : CHECKOUT_WRAPPER
}

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
  /** Packaged mode: the package's own wrapper (default PACKAGED_WRAPPER); another --path gets a wrapper of its own. */
  packagedWrapper?: string
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
  /** The hook vzdump ran before, which the wrapper keeps running. */
  chain?: string
}

/** A wrapper of its own for these options (paths and options quoted exactly; the chained hook baked in, not passed to node). */
export function hookScript(o: HookOptions & { node?: string; entry?: string }): string {
  const { chain, ...options } = o
  return wrapperScript({ node: o.node ?? process.execPath, entry: o.entry ?? HOOK_ENTRY, args: hookOptionArgs(options), strict: o.strict, chain })
}

/** The hook that a wrapper vma-opt wrote (or the package's, through its options file) already runs besides vma-opt's. */
export function chainOf(script: string, optionsFile: string | undefined): string | undefined {
  try {
    const baked = chainedHook(readFileSync(script, 'utf8'))
    if (baked !== undefined || optionsFile === undefined) return baked
    return parseHookArgs(optionsFileArgs(readFileSync(optionsFile, 'utf8'))).options.chain
  } catch {
    return undefined // no wrapper or options yet, or not ours to read
  }
}

/** True when vzdump.conf's script value names our wrapper (this one, or another vma-opt wrote). */
export const isOurScript = (value: string, path: string): boolean => resolve(value) === path || isOurWrapperFile(value)

/** Refuses to replace a file that is not a wrapper vma-opt wrote, or the package's wrapper from a checkout. */
function checkWrapperPath(path: string, packagedWrapper: string): void {
  if (path === packagedWrapper) throw new VmaError('VMA_USAGE', -1, `${path} belongs to the vma-opt Debian package; choose another --path`)
  if (existsSync(path) && !isOurWrapperFile(path)) throw new VmaError('VMA_EXISTS', -1, `${path} exists and was not written by vma-opt; remove it or choose another --path`)
}

export function installHook(given: InstallOptions): InstallResult {
  // The hook runs in another directory: a relative --tmpdir is made absolute now ('' is refused by hookOptionLines).
  const o = { ...given, tmpdir: given.tmpdir ? resolve(given.tmpdir) : given.tmpdir }
  const packaged = o.packaged ?? isPackaged(HOOK_ENTRY)
  const packagedWrapper = resolve(o.packagedWrapper ?? PACKAGED_WRAPPER)
  const path = defaultWrapper({ ...o, packaged, packagedWrapper })
  // The package's wrapper reads its options from one file; any other path
  // (a vzdump job's own --script, with its own options) is a wrapper of its own.
  const shared = packaged && path === packagedWrapper
  const optionsFile = resolve(o.optionsFile ?? PACKAGED_OPTIONS)
  const confLine = `script: ${path}`
  // Everything is checked before anything is written.
  if (!shared) checkWrapperPath(path, packagedWrapper)
  const conf = o.vzdumpConf ? readConf(resolve(o.vzdumpConf)) : undefined
  const current = conf && findScriptLine(conf.text)
  // vzdump has one script: slot. A hook it runs now keeps running, chained
  // behind vma-opt's (--force replaces it instead); a reinstall keeps the
  // chain the wrapper it replaces had.
  const foreign = current && !isOurScript(current.value, path) ? current.value : undefined
  const chain = o.force
    ? undefined
    : (foreign ?? (current ? chainOf(current.value, resolve(current.value) === packagedWrapper ? optionsFile : undefined) : undefined) ?? chainOf(path, shared ? optionsFile : undefined))
  if (chain !== undefined && resolve(chain) === path) throw new VmaError('VMA_USAGE', -1, `${path} cannot chain to itself`)
  const content = shared ? formatOptionsFile({ ...o, chain }) : hookScript({ ...o, chain, node: o.node ?? (packaged ? PACKAGED_NODE : undefined) })

  const wrote = shared ? optionsFile : path
  try {
    mkdirSync(dirname(wrote), { recursive: true })
  } catch (e) {
    throw fromSystemError(e, `cannot create ${dirname(wrote)}`)
  }
  writeFileAtomic(wrote, content, { mode: shared ? 0o644 : 0o755 })
  const result: InstallResult = { path, wrote, confLine, ...(chain !== undefined ? { chain } : {}) }
  if (conf) {
    result.vzdumpConf = conf.path
    if (current?.line !== confLine) result.backup = writeConf(conf, withScriptLine(conf.text, confLine))
  }
  return result
}
