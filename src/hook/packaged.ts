// Where the Debian package (packaging/deb) puts things. When vma-opt runs
// from PACKAGED_ROOT, the package's own wrapper is the hook and `hook
// install` only writes the options file and edits vzdump.conf.

import { relative, resolve, sep } from 'node:path'

export const PACKAGED_ROOT = '/usr/lib/vma-opt'
/** Shipped by the package; its path never changes, so upgrades keep vzdump.conf valid. */
export const PACKAGED_WRAPPER = '/usr/sbin/vzdump-vma-opt'
/** Hook options, one a line; read by the packaged wrapper through --options-file. Never shipped, never purged. */
export const PACKAGED_OPTIONS = '/etc/vma-opt/hook.conf'
export const PACKAGED_NODE = '/usr/bin/node'

/** True when `file` (a module of this program) lies under PACKAGED_ROOT. */
export function isPackaged(file: string): boolean {
  return resolve(file).startsWith(PACKAGED_ROOT + sep)
}

/** The packaged wrapper's spec, given the program root being packaged and the hook entry inside it. */
export function packagedWrapperSpec(programRoot: string, entry: string): { node: string; entry: string; args: string[]; origin: string; chainFrom: string } {
  return {
    node: PACKAGED_NODE,
    entry: `${PACKAGED_ROOT}/${relative(programRoot, entry).split(sep).join('/')}`,
    args: ['--options-file', PACKAGED_OPTIONS],
    chainFrom: PACKAGED_OPTIONS,
    origin: `shipped by the vma-opt Debian package; options in ${PACKAGED_OPTIONS} (\`vma-opt hook install\`).`,
  }
}
