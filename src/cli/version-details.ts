// `vma-opt --version --verbose`: the version, then which node runs it and
// who decodes zstd input by default, so an installed vma-opt can be asked
// whether the fast path (libzstd in process, src/input/libzstd.ts) reached
// it or the zstd program is used through a pipe.

import { readFileSync } from 'node:fs'
import { findTool } from '../util/find-tool.js'
import { libzstd, libzstdMissing } from '../util/libzstd.js'

/** True for `--version` with `--verbose` or `-v`, and nothing else but those. */
export function asksVersionDetails(argv: string[]): boolean {
  return argv.includes('--version') && argv.some(a => a === '--verbose' || a === '-v') && argv.every(a => a === '--version' || a === '--verbose' || a === '-v')
}

/** package.json's version: dist/src/cli/ is three levels below it, in the checkout and in /usr/lib/vma-opt. */
function ownVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version
}

/** Lines for `--version --verbose`: "vma-opt VERSION", "node ...", "zstd decoder: ...". */
export function versionDetails(version = ownVersion()): string {
  const z = libzstd()
  const asked = process.env.VMA_OPT_ZSTD_DECODER || undefined
  const program = findTool('zstd')
  const lib = z ? `libzstd ${z.versionString()} in process (zstd-napi binding)` : undefined
  const prog = program ? `the zstd program (${program})` : undefined
  let decoder: string
  if (asked === 'library') decoder = lib ?? `libzstd asked for by VMA_OPT_ZSTD_DECODER, but the zstd-napi binding did not load: ${libzstdMissing()}`
  else if (asked === 'program') decoder = `${prog ?? 'the zstd program, which is not installed'} (VMA_OPT_ZSTD_DECODER=program)`
  else if (asked === 'fzstd') decoder = 'fzstd, in JavaScript (VMA_OPT_ZSTD_DECODER=fzstd)'
  else if (lib) decoder = lib
  else decoder = `${prog ?? 'fzstd, in JavaScript'}: the zstd-napi binding did not load: ${libzstdMissing()}`
  return [`vma-opt ${version}`, `node ${process.version} (${process.execPath})`, `zstd decoder: ${decoder}`].join('\n') + '\n'
}
