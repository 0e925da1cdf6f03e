// Copies what vma-opt needs at run time into the package tree: the compiled
// JavaScript (dist/src, no type declarations), bin/vma-opt, a package.json
// (for "type": "module" and --version) and the production node modules
// exactly as package-lock.json pins them, taken from the local node_modules
// that `npm ci` installed. Nothing is downloaded here or at install time.

import { cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

/** Files of bundled modules that are never loaded: docs, types, source maps, licenses (those go to copyright). */
const SKIP = /(\.md|\.markdown|\.d\.[cm]?ts|\.map|\.ts|\.tsbuildinfo|^LICEN[CS]E([-.].*)?|^\.[^/]*)$/i

/** The production packages of package-lock.json (lockfile v2/v3): [{ path, name, version, license }]. */
export function productionPackages(root) {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'))
  if (!lock.packages) throw new Error('package-lock.json has no "packages" (lockfileVersion 2 or 3 needed)')
  const out = []
  for (const [path, p] of Object.entries(lock.packages)) {
    if (!path || p.dev || p.link) continue
    // Optional packages are the zstd-napi binding and what builds it: native
    // code, built per machine, where this package is for every architecture.
    // Without it vma-opt decodes zstd with the zstd program (Depends).
    // devOptional: wanted only by those and by dev dependencies.
    if (p.optional || p.devOptional) continue
    if (!existsSync(join(root, path, 'package.json'))) throw new Error(`${path} is missing: run npm ci first`)
    const installed = JSON.parse(readFileSync(join(root, path, 'package.json'), 'utf8'))
    if (installed.version !== p.version) throw new Error(`${path} is ${installed.version}, package-lock.json wants ${p.version}: run npm ci first`)
    out.push({ path, name: path.replace(/^.*node_modules\//, ''), version: p.version, license: p.license ?? installed.license })
  }
  return out.sort((a, b) => a.path.localeCompare(b.path))
}

function copyTree(from, to, keep) {
  cpSync(from, to, { recursive: true, filter: src => src === from || keep(src) })
}

/** Stages the program under `dest` (which becomes /usr/lib/vma-opt). Returns the bundled packages. */
export function stageRuntime(root, dest) {
  const dist = join(root, 'dist', 'src')
  if (!existsSync(join(dist, 'cli'))) throw new Error('dist/src is missing: build first (npm run build)')
  mkdirSync(dest, { recursive: true })
  copyTree(dist, join(dest, 'dist', 'src'), src => statSync(src).isDirectory() || (src.endsWith('.js') && !src.endsWith('.d.js')))

  const bin = readFileSync(join(root, 'bin', 'vma-opt'), 'utf8').replace(/^#!.*\n/, '')
  mkdirSync(join(dest, 'bin'))
  writeFileSync(join(dest, 'bin', 'vma-opt'), bin)

  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  const { name, version, description, license, type, main, exports, engines, dependencies } = pkg
  writeFileSync(join(dest, 'package.json'), JSON.stringify({ name, version, description, license, type, main, exports, engines, dependencies }, null, 2) + '\n')

  const packages = productionPackages(root)
  for (const p of packages) {
    const nested = new Set(packages.filter(q => q.path.startsWith(p.path + '/node_modules/')).map(q => join(root, q.path)))
    copyTree(join(root, p.path), join(dest, p.path), src => {
      if (src.endsWith('/node_modules')) return false // nested packages are copied on their own, only the locked ones
      if (nested.has(src)) return false
      const base = src.slice(dirname(src).length + 1)
      return statSync(src).isDirectory() ? base !== 'test' && !base.startsWith('.') : !SKIP.test(base) || base === 'package.json'
    })
  }
  return packages
}
