// Replacing a file in place must not change who may read it: the new file
// gets the old one's owner and group, its extended attributes and POSIX
// ACLs, and its mode, before it is renamed over the old one.
//
// Node has no xattr API. coreutils' cp (Essential on Debian, so on every
// Proxmox host) copies them onto an existing file without touching its data:
// `cp --attributes-only --preserve=mode,xattr`. `mode` brings the ACL
// (system.posix_acl_access) with the permission bits, `xattr` the rest
// (user.*, and trusted.*/security.* as far as we may). Because both are asked
// for explicitly, cp fails when it cannot copy an attribute the source has
// (a target file system without xattr support, say), and stays quiet when
// the source has none. Either failure of cp or of chown is an error (exit 3):
// a backup whose permissions silently changed is a surprise.

import { execFile } from 'node:child_process'
import { chmod, chown } from 'node:fs/promises'
import { promisify } from 'node:util'
import { VmaError, fromSystemError } from '../util/errors.js'
import { requireTool } from '../util/find-tool.js'

const execFileP = promisify(execFile)

export interface KeepFrom {
  /** The file whose metadata the new one takes (it still exists). */
  path: string
  uid: number
  gid: number
  /** Permission bits, including setuid, setgid and sticky. */
  mode: number
}

/** Gives `path` the owner, group, xattrs, ACLs and mode of `from`. */
export async function keepMetadata(path: string, from: KeepFrom): Promise<void> {
  // chown first: it clears setuid and setgid, which the mode below restores.
  await chown(path, from.uid, from.gid).catch(e => {
    throw fromSystemError(e, `cannot give the new ${from.path} its owner and group (uid ${from.uid}, gid ${from.gid})`)
  })
  const cp = requireTool('cp', 'keeping extended attributes and ACLs')
  try {
    await execFileP(cp, ['--attributes-only', '--preserve=mode,xattr', '--', from.path, path])
  } catch (e) {
    const why = ((e as { stderr?: string }).stderr ?? '').trim().split('\n').pop() || (e as Error).message
    throw new VmaError('VMA_IO', -1, `cannot give the new ${from.path} its extended attributes or ACLs: ${why.replace(/^cp: /, '')}`)
  }
  await chmod(path, from.mode & 0o7777).catch(e => {
    throw fromSystemError(e, `cannot give the new ${from.path} its mode ${(from.mode & 0o7777).toString(8)}`)
  })
}
