// The /bin/sh wrapper vzdump runs as its hook script (`script:` in
// vzdump.conf). vzdump calls it with no PATH, so node and the hook entry are
// baked in as absolute paths, each quoted exactly: a checkout under
// `/opt/two  spaces/it's $HOME` must work as well as /usr/lib/vma-opt.

/** The second line of every wrapper vma-opt writes: how `hook install` and
 * `hook uninstall` know a file is theirs to replace or delete. */
export const WRAPPER_MARKER = '# vma-opt vzdump hook wrapper'

/** The comment line of wrappers written before the marker existed (0.1.0). */
const OLD_MARKER = '# vzdump hook written by `vma-opt hook install`'

import { closeSync, openSync, readSync } from 'node:fs'

export interface WrapperSpec {
  /** Absolute path of the node binary. */
  node: string
  /** Absolute path of the hook entry (hook-main.js). */
  entry: string
  /** Arguments before vzdump's own (hook options, or --options-file F). */
  args: string[]
  /** A missing node or entry fails the backup (status 3) instead of a warning. */
  strict?: boolean
  /** Who wrote it, after the marker (default: `hook install`). */
  origin?: string
}

/** Single-quotes s for /bin/sh: every byte kept as it is. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

export function wrapperScript(w: WrapperSpec): string {
  const exec = ['exec "$node" "$entry"', ...w.args.map(shellQuote), '"$@"'].join(' ')
  return [
    '#!/bin/sh',
    `${WRAPPER_MARKER}: ${w.origin ?? 'written by `vma-opt hook install`; `vma-opt hook uninstall` removes it.'}`,
    '# vzdump runs it as `HOOK PHASE [MODE VMID]` with no PATH: every path here is absolute.',
    '# Only backup-end does anything. Every other phase ends here at once, so a moved',
    '# checkout or a removed node never fails a backup job.',
    '[ "$1" = backup-end ] || exit 0',
    `node=${shellQuote(w.node)}`,
    `entry=${shellQuote(w.entry)}`,
    'if [ ! -x "$node" ] || [ ! -f "$entry" ]; then',
    `  printf 'vma-opt: WARNING: %s or %s is missing; the backup was left as it is (run vma-opt hook install again)\\n' "$node" "$entry"`,
    `  exit ${w.strict ? 3 : 0}`,
    'fi',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'export PATH',
    exec,
    '',
  ].join('\n')
}

/** True when `text` (a file's content) is a wrapper vma-opt wrote. */
export function isOurWrapper(text: string): boolean {
  const lines = text.split('\n', 3)
  return lines[0] === '#!/bin/sh' && (lines[1]!.startsWith(WRAPPER_MARKER) || lines[1] === `${OLD_MARKER}: optimizes each VM backup as it lands.`)
}

/** True when the file at `path` is a wrapper vma-opt wrote (false when it cannot be read). */
export function isOurWrapperFile(path: string): boolean {
  let fd: number | undefined
  try {
    fd = openSync(path, 'r')
    const buf = Buffer.alloc(4096)
    return isOurWrapper(buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('utf8'))
  } catch {
    return false
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}
