// The one place the tests (and benches, and the fuzzer) find the external
// programs they run: Debian's tools on PATH or in the sbin directories, and
// Proxmox's own `vma`. A test that lacks one skips with `needTools(...)` as
// its reason; under CI=true every skip fails the run (.ci/summary.mjs), so
// every tool named here must be in .ci/run's install list, which this file
// reads for the package names: a tool missing from that list is reported as
// such (on a fresh CI machine it would never be there).
//
// Imports nothing from tap but a type: compiled into dist/ for the fuzzer and benches.

import { spawnSync } from 'node:child_process'
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

/** The checkout's root, from test/ in the source tree or dist/test/ when compiled. */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir)
  return dir
}

export const ROOT = findRoot()

// Root's tools (mkfs.*, losetup, sgdisk) live in sbin, which a user's PATH may lack.
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin']
const found = new Map<string, string | undefined>()

/** Absolute path of the program `name` (on PATH or in an sbin directory), or undefined. */
export function findTool(name: string): string | undefined {
  if (found.has(name)) return found.get(name)
  let path: string | undefined
  if (name.includes('/')) path = isExecutable(name) ? name : undefined
  else {
    for (const dir of [...(process.env.PATH ?? '').split(':').filter(Boolean), ...EXTRA_DIRS]) {
      if (isExecutable(join(dir, name))) {
        path = join(dir, name)
        break
      }
    }
  }
  found.set(name, path)
  return path
}

function isExecutable(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false
    accessSync(p, constants.X_OK)
    return true
  } catch {
    return false
  }
}

export const haveTool = (name: string): boolean => findTool(name) !== undefined

let ciList: Map<string, string> | undefined

/** program -> Debian package, from the `for pair in ...; do` list of .ci/run. */
export function ciPackages(): Map<string, string> {
  if (ciList) return ciList
  ciList = new Map()
  const run = join(ROOT, '.ci', 'run')
  const text = existsSync(run) ? readFileSync(run, 'utf8') : ''
  const m = /^for pair in ([\s\S]*?); do$/m.exec(text)
  for (const pair of (m?.[1] ?? '').replace(/\\\n/g, ' ').split(/\s+/).filter(Boolean)) {
    const at = pair.indexOf(':')
    if (at > 0) ciList.set(pair.slice(0, at), pair.slice(at + 1))
  }
  return ciList
}

/**
 * Why a test that runs `tools` cannot run here, or false when all are
 * installed: a skip reason naming the missing programs and their Debian
 * packages. With CI=true a tool that .ci/run does not install is reported
 * too, even when this machine happens to have it.
 */
export function needTools(...tools: string[]): string | false {
  const pkgs = ciPackages()
  const missing = tools.filter(x => !haveTool(x))
  const unlisted = process.env.CI === 'true' ? tools.filter(x => !pkgs.has(x)) : []
  const parts: string[] = []
  if (missing.length) {
    const debs = [...new Set(missing.map(x => pkgs.get(x)).filter(Boolean))].join(', ')
    parts.push(`needs ${missing.join(', ')}${debs ? ` (Debian: ${debs})` : ''}`)
  }
  if (unlisted.length) parts.push(`${unlisted.join(', ')} not in .ci/run's install list`)
  return parts.length ? parts.join('; ') : false
}

/** The first of `tools` that is not installed, or undefined. */
export const firstMissing = (...tools: string[]): string | undefined => tools.find(x => !haveTool(x))

/**
 * Where Proxmox's vma is looked for: $VMA_PROXMOX, else the copy beside the
 * checkout (../shared/tools/proxmox-vma/vma). The only way it is found.
 */
export const proxmoxVmaPath = (): string => process.env.VMA_PROXMOX ?? resolve(ROOT, '..', 'shared', 'tools', 'proxmox-vma', 'vma')

export type ProxmoxVma = { ok: true; path: string } | { ok: false; reason: string }

let vma: ProxmoxVma | undefined

/** Proxmox's vma, or why it cannot be used here (missing, or its libraries are). */
export function proxmoxVma(): ProxmoxVma {
  if (vma) return vma
  const path = proxmoxVmaPath()
  if (!existsSync(path)) return (vma = { ok: false, reason: `Proxmox's vma: ${path} not found (set VMA_PROXMOX to Proxmox's vma program)` })
  // With no arguments it prints its usage and exits 1; a missing library makes the loader exit 127.
  const r = spawnSync(path, [], { encoding: 'utf8' })
  if (r.error) return (vma = { ok: false, reason: `Proxmox's vma: ${path} cannot start: ${r.error.message}` })
  if (!/usage: vma command/.test(r.stderr + r.stdout)) {
    const why = (r.stderr || r.stdout).trim().split('\n')[0] ?? `exit status ${r.status}`
    return (vma = { ok: false, reason: `Proxmox's vma: ${path} cannot start on this machine: ${why} (see .ci/run for the Debian packages it needs)` })
  }
  return (vma = { ok: true, path })
}

/** Why Proxmox's vma cannot be used here, or false: for `{ skip: vmaSkip() }`. */
export function vmaSkip(): string | false {
  const v = proxmoxVma()
  return v.ok ? false : v.reason
}

/**
 * Marks the rest of a test as skipped, the reason shown in the output as
 * tap's `# SKIP` directive (what .ci/summary.mjs counts and names). tap 21's
 * t.skip takes a test function; this is its form for "skip from here".
 */
export function skipHere(t: Test, reason: string): void {
  t.test(reason, { skip: reason }, async () => {})
}
