// vma-opt hook uninstall: undoes hook install. vzdump.conf gets back the
// script: line it had before (the one in FILE.vma-opt-backup), or loses
// ours when it had none; the backup is then removed, so that a later install
// keeps a fresh one. A wrapper is deleted only when vma-opt wrote it, and
// never the Debian package's own; in packaged mode the options file goes.

import { existsSync, readFileSync, unlinkSync } from 'node:fs'
import { resolve } from 'node:path'
import { VmaError, fromSystemError } from '../util/errors.js'
import { OPTIONS_HEADER } from './hook-options.js'
import { HOOK_ENTRY, chainOf, defaultWrapper, isOurScript } from './install-hook.js'
import { isPackaged, PACKAGED_OPTIONS, PACKAGED_WRAPPER } from './packaged.js'
import { backupScriptLine, findScriptLine, readConf, removeBackup, withScriptLine, writeConf } from './vzdump-conf.js'
import { isOurWrapperFile } from './wrapper-script.js'

export interface UninstallOptions {
  path?: string
  vzdumpConf?: string
  packaged?: boolean
  optionsFile?: string
  /** The package's own wrapper (default PACKAGED_WRAPPER): never deleted; it reads the options file. */
  packagedWrapper?: string
}

export interface UninstallResult {
  /** Files deleted (wrappers, the options file). */
  removed: string[]
  vzdumpConf?: string
  /** The script: line vzdump.conf has now (null: none), when it was changed. */
  restored?: string | null
  /** vzdump.conf's script: value when it names a hook that is not ours (left alone). */
  foreign?: string
}

function unlink(path: string): void {
  try {
    unlinkSync(path)
  } catch (e) {
    throw fromSystemError(e, `cannot remove ${path}`)
  }
}

export function uninstallHook(o: UninstallOptions): UninstallResult {
  const packaged = o.packaged ?? isPackaged(HOOK_ENTRY)
  const packagedWrapper = resolve(o.packagedWrapper ?? PACKAGED_WRAPPER)
  const path = defaultWrapper({ ...o, packaged, packagedWrapper })
  const shared = packaged && path === packagedWrapper
  const options = resolve(o.optionsFile ?? PACKAGED_OPTIONS)
  if (!shared && existsSync(path) && !isOurWrapperFile(path)) throw new VmaError('VMA_EXISTS', -1, `${path} was not written by vma-opt; nothing was changed`)
  const result: UninstallResult = { removed: [] }
  const wrappers = new Set([path])

  if (o.vzdumpConf) {
    const conf = readConf(resolve(o.vzdumpConf))
    result.vzdumpConf = conf.path
    const current = findScriptLine(conf.text)
    if (current && isOurScript(current.value, path)) {
      wrappers.add(resolve(current.value))
      const backup = backupScriptLine(conf.path)
      // The hook vzdump ran before gets its slot back: from the backup of
      // vzdump.conf, or else the one our wrapper chained to.
      const chained = chainOf(current.value, shared ? options : undefined)
      const previous = backup.script && !isOurScript(backup.script.value, path) ? backup.script.line : chained !== undefined ? `script: ${chained}` : null
      writeConf({ ...conf, exists: false }, withScriptLine(conf.text, previous)) // exists: false: no new backup of our own edit
      result.restored = previous
      if (backup.exists) removeBackup(conf.path)
    } else if (current) result.foreign = current.value
  }

  for (const w of wrappers) {
    if (w === packagedWrapper || w === PACKAGED_WRAPPER || !existsSync(w) || !isOurWrapperFile(w)) continue // the package's wrapper is dpkg's
    unlink(w)
    result.removed.push(w)
  }
  if (shared && existsSync(options) && readFileSync(options, 'utf8').startsWith(OPTIONS_HEADER)) {
    unlink(options)
    result.removed.push(options)
  }
  return result
}
