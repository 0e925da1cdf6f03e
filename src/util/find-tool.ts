// vzdump runs hooks with no PATH at all, so external tools are looked up on
// PATH and then in the usual system directories.

import { accessSync, constants, statSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { VmaError } from './errors.js'

const DEFAULT_SYSTEM_DIRS = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
// VMA_OPT_SYSTEM_DIRS replaces the fallback list (tests use it to hide tools).
const SYSTEM_DIRS = (process.env.VMA_OPT_SYSTEM_DIRS ?? DEFAULT_SYSTEM_DIRS).split(':').filter(Boolean)

const cache = new Map<string, string | undefined>()

/** Absolute path of an executable, or undefined. */
export function findTool(name: string): string | undefined {
  if (cache.has(name)) return cache.get(name)
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SYSTEM_DIRS]
  let found: string | undefined
  for (const dir of dirs) {
    const p = join(dir, name)
    try {
      if (statSync(p).isFile()) {
        accessSync(p, constants.X_OK)
        found = p
        break
      }
    } catch {
      // not here
    }
  }
  cache.set(name, found)
  return found
}

/** The Debian package that provides each tool we may run. */
const PACKAGES: Record<string, string> = { zstd: 'zstd', lzop: 'lzop', gzip: 'gzip', pigz: 'pigz' }

export function requireTool(name: string, why: string): string {
  const p = findTool(name)
  if (!p) {
    throw new VmaError('VMA_TOOL_MISSING', -1, `${why} needs the '${name}' program, which is not installed (Debian package: ${PACKAGES[name] ?? name})`)
  }
  return p
}
