#!/usr/bin/env node
// npm run deb: builds vma-opt_VERSION_ARCH.deb (ARCH: this machine's, amd64
// here) and vma-opt_VERSION_all.deb from this checkout with dpkg-deb. The
// architecture package carries the zstd-napi binding npm ci built here
// (native-binding.mjs), so zstd input is decoded by libzstd in process; the
// all package is the same tree without it (zstd through the zstd program),
// for other architectures, and costs one more dpkg-deb run. The program goes to /usr/lib/vma-opt with the production node
// modules package-lock.json pins (copied from node_modules, nothing is
// downloaded here or at install time), /usr/bin/vma-opt links to it, the
// vzdump hook wrapper is /usr/sbin/vzdump-vma-opt, and the manual pages are
// generated from --help and spec/cli.md.
//
//   node packaging/deb/build-deb.mjs [--out DIR] [--no-build] [--arch all|native]
//
// --no-build uses dist/ as it is (the tests do, after npm ci built it);
// --arch builds only one of the two (native fails without the binding).

import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, lutimesSync, writeFileSync, copyFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { newestEntry } from './changelog.mjs'
import { copyrightFile } from './copyright.mjs'
import { vmaOptPage, wrapperPage } from './man-page.mjs'
import { bindingCopyright, stageBinding } from './native-binding.mjs'
import { stageRuntime } from './stage-runtime.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(HERE, '..', '..')

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: ROOT, ...opts })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `status ${r.status}`})`)
  return r
}

function options(argv) {
  const o = { out: ROOT, build: true, all: true, native: true }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') o.out = resolve(argv[++i] ?? '')
    else if (argv[i] === '--no-build') o.build = false
    else if (argv[i] === '--arch' && ['all', 'native'].includes(argv[i + 1])) {
      o.all = argv[++i] === 'all'
      o.native = !o.all
    } else throw new Error(`unknown option ${argv[i]} (use --out DIR, --no-build, --arch all|native)`)
  }
  return o
}

/** From a fresh clone: install the locked dependencies (tsc builds, the runtime ones are packaged), then compile. */
function build() {
  if (!existsSync(join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'))) run('npm', ['ci', '--no-audit', '--no-fund'])
  run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'])
}

const gzip = (text, to) => writeFileSync(to, spawnSync('gzip', ['-9n', '-c'], { input: text, maxBuffer: 64 << 20 }).stdout)

/** The Description field; `zstd` is the last paragraph, which says who decodes zstd. */
const description = zstd => `make Proxmox VE backups deduplicate
 vzdump writes VM backups as VMA archives. vma-opt optimize rewrites them
 deterministically (clusters sorted, a fixed uuid, fixed extent packing), so
 that consecutive backups share all unchanged data in restic, borg, rsync or
 any deduplicating store. The result is still a VMA archive that qmrestore
 restores, and every disk is proven unchanged before anything is replaced.
 .
 With --trim it also zeroes the free space of the guest filesystems (ext2/3/4,
 XFS, btrfs, NTFS, swap, LVM) so deleted data stops costing space. It checks
 archives (info, verify), unpacks, packs and compares them, keeps older
 backups as small reverse deltas (diff, apply, rebuild), serves the disks of
 an archive over NBD (serve) and lists or restores single guest files (ls,
 get). Archives may be plain or compressed with zstd, gzip or lzop.
 .
 The vzdump hook /usr/sbin/vzdump-vma-opt optimizes, trims or turns into
 reverse deltas every backup as it lands.
 .
 ${zstd}`

const ZSTD_LIBRARY = `This package carries the zstd-napi binding: zstd is decoded by libzstd
 inside vma-opt, with no pipe.`
const ZSTD_PROGRAM = `This package is for every architecture: zstd is decoded by the zstd program
 through a pipe. The package for this machine's architecture, where there is
 one, carries the zstd-napi binding and decodes zstd in process.`

/** Every path under dir (depth first), relative, with "." first. */
function walk(dir, at = '.') {
  const out = [at]
  const full = join(dir, at)
  if (lstatSync(full).isDirectory()) for (const f of readdirSync(full).sort()) out.push(...walk(dir, join(at, f)))
  return out
}

/** The only executables: the launcher, the hook wrapper, the maintainer script (npm tarballs mark stray files executable). */
const EXECUTABLE = new Set(['usr/bin/vma-opt', 'usr/sbin/vzdump-vma-opt', 'DEBIAN/postrm'])
// binding.node is mapped by node, not run: 0644 like every shared library (Debian policy 10.9).

/** Modes and times as a build from any umask and any day would have them. */
function normalize(stage, epoch) {
  for (const p of walk(stage).reverse()) {
    const full = join(stage, p)
    const st = lstatSync(full)
    if (st.isSymbolicLink()) {
      lutimesSync(full, epoch, epoch)
      continue
    }
    chmodSync(full, st.isDirectory() || EXECUTABLE.has(p) ? 0o755 : 0o644)
    utimesSync(full, epoch, epoch)
  }
}

function controlFiles(stage, { version, maintainer }, { arch, depends, zstd }) {
  let kib = 0
  const sums = []
  for (const p of walk(stage)) {
    if (p === 'DEBIAN' || p.startsWith('DEBIAN/')) continue
    const st = lstatSync(join(stage, p))
    kib += st.isFile() ? Math.ceil(st.size / 1024) || 1 : 1
    if (st.isFile())
      sums.push(
        `${createHash('md5')
          .update(readFileSync(join(stage, p)))
          .digest('hex')}  ${p}`,
      )
  }
  const control = [
    'Package: vma-opt',
    `Version: ${version}`,
    `Architecture: ${arch}`,
    `Maintainer: ${maintainer}`,
    `Installed-Size: ${kib}`,
    `Depends: ${['nodejs (>= 20.19)', 'zstd', ...depends].join(', ')}`,
    'Recommends: lzop',
    'Section: admin',
    'Priority: optional',
    `Description: ${description(zstd)}`,
    '',
  ].join('\n')
  rmSync(join(stage, 'DEBIAN'), { recursive: true, force: true })
  mkdirSync(join(stage, 'DEBIAN'))
  writeFileSync(join(stage, 'DEBIAN', 'control'), control)
  writeFileSync(join(stage, 'DEBIAN', 'md5sums'), sums.join('\n') + '\n')
  copyFileSync(join(HERE, 'postrm'), join(stage, 'DEBIAN', 'postrm'))
  chmodSync(join(stage, 'DEBIAN', 'postrm'), 0o755)
}

async function stageTree(stage, entry) {
  const lib = join(stage, 'usr', 'lib', 'vma-opt')
  const packages = stageRuntime(ROOT, lib)
  writeCopyright(stage, packages)
  mkdirSync(join(stage, 'usr', 'bin'), { recursive: true })
  // A launcher rather than a symlink: nothing under /usr/lib needs to be executable.
  writeFileSync(
    join(stage, 'usr', 'bin', 'vma-opt'),
    '#!/bin/sh\n# vma-opt, installed by the Debian package: the program is in /usr/lib/vma-opt.\nexec /usr/bin/node /usr/lib/vma-opt/bin/vma-opt "$@"\n',
  )

  // The wrapper comes from the same code `hook install` uses, pointed at the packaged paths.
  const dist = join(ROOT, 'dist', 'src', 'hook')
  const { wrapperScript } = await import(pathToFileURL(join(dist, 'wrapper-script.js')).href)
  const { packagedWrapperSpec } = await import(pathToFileURL(join(dist, 'packaged.js')).href)
  mkdirSync(join(stage, 'usr', 'sbin'), { recursive: true })
  writeFileSync(join(stage, 'usr', 'sbin', 'vzdump-vma-opt'), wrapperScript(packagedWrapperSpec(ROOT, join(dist, 'hook-main.js'))), { mode: 0o755 })

  const date = new Date(entry.epoch * 1000).toISOString().slice(0, 10)
  const man = join(stage, 'usr', 'share', 'man')
  mkdirSync(join(man, 'man1'), { recursive: true })
  mkdirSync(join(man, 'man8'), { recursive: true })
  gzip(vmaOptPage(ROOT, { date, version: entry.version }), join(man, 'man1', 'vma-opt.1.gz'))
  gzip(wrapperPage(ROOT, { date, version: entry.version }), join(man, 'man8', 'vzdump-vma-opt.8.gz'))

  const doc = join(stage, 'usr', 'share', 'doc', 'vma-opt')
  mkdirSync(join(doc, 'spec'), { recursive: true })
  copyFileSync(join(ROOT, 'README.md'), join(doc, 'README.md'))
  for (const f of readdirSync(join(ROOT, 'spec')).filter(f => f.endsWith('.md'))) copyFileSync(join(ROOT, 'spec', f), join(doc, 'spec', f))
  gzip(readFileSync(join(HERE, 'changelog')), join(doc, 'changelog.gz'))

  return packages
}

function writeCopyright(stage, packages, extra) {
  const doc = join(stage, 'usr', 'share', 'doc', 'vma-opt')
  mkdirSync(doc, { recursive: true })
  writeFileSync(join(doc, 'copyright'), copyrightFile(ROOT, packages, extra))
}

function overrides(stage) {
  // Only the override lines; the reasons are comments in the repository's file.
  const kept = readFileSync(join(HERE, 'lintian-overrides'), 'utf8')
    .split('\n')
    .filter(l => l.trim() && !l.startsWith('#'))
  if (kept.length) {
    const overrides = join(stage, 'usr', 'share', 'lintian', 'overrides')
    mkdirSync(overrides, { recursive: true })
    writeFileSync(join(overrides, 'vma-opt'), kept.join('\n') + '\n')
  }
}

async function main() {
  const o = options(process.argv.slice(2))
  if (o.build) build()
  const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version
  const entry = newestEntry(readFileSync(join(HERE, 'changelog'), 'utf8'))
  if (entry.version !== version)
    throw new Error(`packaging/deb/changelog's newest entry is ${entry.version}, package.json says ${version}: add an entry for ${version} at the top of packaging/deb/changelog`)
  const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? entry.epoch)
  const stage = mkdtempSync(join(tmpdir(), 'vma-opt-deb-'))
  const dpkgDeb = name => {
    normalize(stage, epoch)
    const deb = join(o.out, `vma-opt_${version}_${name}.deb`)
    run('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stage, deb], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) } })
    console.log(relative(process.cwd(), deb) || deb)
  }
  try {
    chmodSync(stage, 0o755)
    const packages = await stageTree(stage, entry)
    overrides(stage)
    mkdirSync(o.out, { recursive: true })
    if (o.all) {
      controlFiles(stage, entry, { arch: 'all', depends: [], zstd: ZSTD_PROGRAM })
      dpkgDeb('all')
    }
    if (o.native) {
      // The same tree, plus the binding and its copyright paragraphs.
      const b = stageBinding(ROOT, join(stage, 'usr', 'lib', 'vma-opt'))
      writeCopyright(stage, packages, bindingCopyright(ROOT))
      controlFiles(stage, entry, { arch: b.arch, depends: b.depends.split(', '), zstd: ZSTD_LIBRARY })
      dpkgDeb(b.arch)
    }
  } finally {
    rmSync(stage, { recursive: true, force: true })
  }
}

main().catch(e => {
  console.error(`build-deb: ${e.message}`)
  process.exit(1)
})
