// The zstd-napi binding for the architecture package (vma-opt_VERSION_ARCH.deb):
// the binding.node that `npm ci` built on this machine with node-gyp against
// the system's node (Node-API 8, so any node from 12.22 on loads it, and the
// package's nodejs (>= 20.19) covers it), stripped, with the two files that
// load it. Only zstd-napi/binding is required at run time (src/util/libzstd.ts);
// its JavaScript wrapper (dist/) and its build-time dependencies
// (node-addon-api, prebuild-install) are left out.

import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const BINDING = join('node_modules', 'zstd-napi')
const NODE = join(BINDING, 'build', 'Release', 'binding.node')

function out(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim()}`)
  return r.stdout.trim()
}

/** Why this checkout cannot give the binding (npm ci did not build it), or undefined. */
export function bindingMissing(root) {
  if (!existsSync(join(root, NODE))) return `${NODE} is missing: npm ci builds it (g++, make and python3 are needed)`
  return undefined
}

/**
 * Copies the binding under `lib` (/usr/lib/vma-opt), strips it, proves that
 * the system's node (/usr/bin/node, which the launcher runs) loads it, and
 * returns the Architecture and the shared-library Depends dpkg-shlibdeps
 * finds for it (libc6, libgcc-s1, libstdc++6 with their minimum versions).
 */
export function stageBinding(root, lib) {
  const why = bindingMissing(root)
  if (why) throw new Error(why)
  const dest = join(lib, BINDING)
  mkdirSync(join(dest, 'build', 'Release'), { recursive: true })
  const pkg = JSON.parse(readFileSync(join(root, BINDING, 'package.json'), 'utf8'))
  const { name, version, description, license, author, repository, engines } = pkg
  writeFileSync(join(dest, 'package.json'), JSON.stringify({ name, version, description, license, author, repository, engines }, null, 2) + '\n')
  copyFileSync(join(root, BINDING, 'binding.js'), join(dest, 'binding.js'))
  const node = join(dest, 'build', 'Release', 'binding.node')
  copyFileSync(join(root, NODE), node)
  // As dh_strip does: no debugging symbols, no symbols a loader does not need.
  out('strip', ['--remove-section=.comment', '--remove-section=.note', '--strip-unneeded', node])
  const zstd = out('/usr/bin/node', ['-e', 'process.stdout.write(require(process.argv[1]).versionString())', join(dest, 'binding.js')])

  // dpkg-shlibdeps wants a source tree's debian/control; the Node-API symbols
  // it reports as found nowhere are node's own (the process that loads it).
  const tree = mkdtempSync(join(tmpdir(), 'vma-opt-shlibs-'))
  try {
    mkdirSync(join(tree, 'debian'))
    writeFileSync(join(tree, 'debian', 'control'), 'Source: vma-opt\n\nPackage: vma-opt\nArchitecture: any\n')
    const line = out('dpkg-shlibdeps', ['-O', `-e${node}`], { cwd: tree })
    const m = /^shlibs:Depends=(.+)$/m.exec(line)
    if (!m) throw new Error(`dpkg-shlibdeps said nothing usable: ${line}`)
    return { arch: out('dpkg', ['--print-architecture']), depends: m[1], zstd, version }
  } finally {
    rmSync(tree, { recursive: true, force: true })
  }
}

/** DEP-5 paragraphs for the binding and the zstd library compiled into it, and the licenses they name. */
export function bindingCopyright(root) {
  const notice = readFileSync(join(root, BINDING, 'NOTICE'), 'utf8')
  const holder = /^Copyright (.+)$/m.exec(notice)?.[1]
  if (!holder) throw new Error(`${BINDING}/NOTICE names no copyright holder`)
  const zstdLicense = readFileSync(join(root, BINDING, 'deps', 'zstd', 'LICENSE'), 'utf8')
  const zstdHolder = /^Copyright \(c\) (.+?)\.? All rights reserved\.$/m.exec(zstdLicense)?.[1]
  if (!zstdHolder) throw new Error(`${BINDING}/deps/zstd/LICENSE names no copyright holder`)
  const version = JSON.parse(readFileSync(join(root, BINDING, 'package.json'), 'utf8')).version
  const paragraphs = [
    [`Files: ${BINDING}/*`, `Copyright: ${holder}`, 'License: Apache-2.0', `Comment: zstd-napi ${version}; its NOTICE says: ${notice.trim().split('\n').join(' ')}`].join('\n'),
    [
      `Files: ${BINDING}/build/Release/binding.node`,
      `Copyright: ${holder}`,
      ` ${zstdHolder}`,
      'License: Apache-2.0 and BSD-3-clause',
      'Comment: the binding with the zstd library it bundles compiled in; zstd is',
      ' offered under BSD-3-clause or GPL-2, and used here under BSD-3-clause.',
    ].join('\n'),
  ]
  const bsd = zstdLicense.slice(zstdLicense.indexOf('Redistribution')).trim()
  const licenses = {
    'Apache-2.0': `Licensed under the Apache License, Version 2.0 (the "License"); you may not\nuse this file except in compliance with the License.\n\nOn Debian systems, the complete text of the Apache License, Version 2.0\ncan be found in "/usr/share/common-licenses/Apache-2.0".`,
    'BSD-3-clause': bsd,
  }
  return { paragraphs, licenses }
}
