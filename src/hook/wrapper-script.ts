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
  /**
   * The hook vzdump ran before vma-opt's was installed: called for every
   * phase with the same arguments and environment, its exit status kept.
   */
  chain?: string
  /** The packaged wrapper's way to the same: the options file's `--chain PATH` line, read by the shell. */
  chainFrom?: string
}

/** Single-quotes s for /bin/sh: every byte kept as it is. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

export function wrapperScript(w: WrapperSpec): string {
  const head = [
    '#!/bin/sh',
    `${WRAPPER_MARKER}: ${w.origin ?? 'written by `vma-opt hook install`; `vma-opt hook uninstall` removes it.'}`,
    '# vzdump runs it as `HOOK PHASE [MODE VMID]` with no PATH: every path here is absolute.',
  ]
  const missing = [
    'if [ ! -x "$node" ] || [ ! -f "$entry" ]; then',
    `  printf 'vma-opt: WARNING: %s or %s is missing; the backup was left as it is (run vma-opt hook install again)\\n' "$node" "$entry"`,
  ]
  const paths = [`node=${shellQuote(w.node)}`, `entry=${shellQuote(w.entry)}`]
  const args = ['"$node" "$entry"', ...w.args.map(shellQuote), '"$@"'].join(' ')
  if (w.chain === undefined && w.chainFrom === undefined) {
    return [
      ...head,
      '# Only backup-end does anything. Every other phase ends here at once, so a moved',
      '# checkout or a removed node never fails a backup job.',
      '[ "$1" = backup-end ] || exit 0',
      ...paths,
      ...missing,
      `  exit ${w.strict ? 3 : 0}`,
      'fi',
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'export PATH',
      `exec ${args}`,
      '',
    ].join('\n')
  }
  // vzdump has one script: slot. The hook that had it keeps running for every
  // phase, as vzdump ran it (same arguments, same environment: the PATH set
  // for node is set for node alone), and a failure of it fails the phase as
  // before. At backup-end vma-opt goes first, so the other hook sees the
  // optimized archive (an upload of it, say).
  const prev =
    w.chain !== undefined
      ? [`${CHAIN_VAR}=${shellQuote(w.chain)}`]
      : [
          `${CHAIN_VAR}=`,
          `if [ -r ${shellQuote(w.chainFrom!)} ]; then`,
          // Read as optionsFileArgs reads it: a last line without a newline, CRLF and surrounding blanks are fine.
          "  cr=$(printf '\\r')",
          '  while IFS= read -r line || [ -n "$line" ]; do',
          '    line=${line%"$cr"}',
          '    line=${line#"${line%%[![:space:]]*}"}',
          '    line=${line%"${line##*[![:space:]]}"}',
          `    case "$line" in '--chain '*) ${CHAIN_VAR}=\${line#--chain } ;; esac`,
          `  done < ${shellQuote(w.chainFrom!)}`,
          'fi',
        ]
  return [
    ...head,
    '# It also runs the hook vzdump ran before: for every phase, at backup-end after vma-opt.',
    ...prev,
    'if [ "$1" != backup-end ]; then',
    `  [ -z "$${CHAIN_VAR}" ] || exec "$${CHAIN_VAR}" "$@"`,
    '  exit 0',
    'fi',
    ...paths,
    ...missing,
    `  ours=${w.strict ? 3 : 0}`,
    'else',
    `  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin ${args}`,
    '  ours=$?',
    'fi',
    `[ -z "$${CHAIN_VAR}" ] && exit $ours`,
    `"$${CHAIN_VAR}" "$@" || exit $?`,
    'exit $ours',
    '',
  ].join('\n')
}

/** The shell variable holding the chained hook; `chainedHook` reads its line back. */
const CHAIN_VAR = 'previous_hook'

/** The hook a wrapper vma-opt wrote chains to (its baked `previous_hook='...'` line), if any. */
export function chainedHook(text: string): string | undefined {
  const m = new RegExp(`^${CHAIN_VAR}='((?:[^']|'\\\\'')*)'$`, 'm').exec(text)
  return m ? m[1]!.replace(/'\\''/g, "'") : undefined
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
