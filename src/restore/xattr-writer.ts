// Extended attributes and POSIX ACLs for `get --xattrs`. Node has no
// setxattr(2), so they are written by attr's `setfattr`, once for the whole
// tree: each file's attributes are appended to a dump in getfattr's format
// (a temp file: memory stays bounded however many files there are), and
// `setfattr -h --restore=DUMP` sets them all before the tree is renamed into
// place. `-h`: a symlink's own attributes, never its target's. ACLs travel
// as system.posix_acl_access / _default in the kernel's xattr form, which
// setxattr takes as they are.

import { promises as fsp } from 'node:fs'
import { requireTool } from '../util/find-tool.js'
import { spawnGuarded } from '../util/spawn-guarded.js'
import { tempNameFor } from '../util/temp-names.js'
import { removeFile, trackFile } from '../util/temp-files.js'
import { fromSystemError } from '../util/errors.js'
import type { Xattr } from '../files/guest-fs.js'

/** getfattr's quoting of a path or name: bytes outside '!'..'~', '\\' and '=' as \ooo. */
export function quoteAttrText(b: Buffer): string {
  let s = ''
  for (const c of b) s += c <= 0x20 || c >= 0x7f || c === 0x5c || c === 0x3d ? `\\${c.toString(8).padStart(3, '0')}` : String.fromCharCode(c)
  return s
}

export class XattrWriter {
  private fh: fsp.FileHandle | undefined
  private readonly dump: string
  private readonly tool: string
  /** Attributes written to the dump. */
  count = 0

  constructor(besides: string) {
    this.tool = requireTool('setfattr', 'get --xattrs')
    this.dump = tempNameFor(besides)
  }

  async set(path: Buffer, list: Xattr[]): Promise<void> {
    if (!this.fh) trackFile(this.dump)
    const fh: fsp.FileHandle = this.fh ?? (await fsp.open(this.dump, 'wx', 0o600).catch(e => Promise.reject(fromSystemError(e, `cannot create ${this.dump}`))))
    this.fh = fh
    let text = `# file: ${quoteAttrText(path)}\n`
    for (const x of list) text += `${quoteAttrText(Buffer.from(x.name))}=0x${x.value.toString('hex')}\n`
    await fh.write(`${text}\n`)
    this.count += list.length
  }

  /**
   * Sets every attribute collected; removes the dump. Returns setfattr's
   * complaint when some could not be set (a security.selinux the host
   * refuses, say): the files are there, so it is a warning, not a failure.
   */
  async finish(): Promise<string | undefined> {
    if (!this.fh) return undefined
    await this.fh.close()
    this.fh = undefined
    try {
      return await new Promise<string | undefined>((resolve, reject) => {
        const child = spawnGuarded(this.tool, ['-h', `--restore=${this.dump}`], { stdio: ['ignore', 'ignore', 'pipe'] })
        let err = ''
        child.stderr?.on('data', (d: Buffer) => {
          if (err.length < 4096) err += d.toString()
        })
        child.on('error', reject)
        child.on('close', code => resolve(code === 0 ? undefined : `setfattr could not set every extended attribute: ${err.trim().split('\n')[0] || `exit ${code}`}`))
      })
    } finally {
      removeFile(this.dump)
    }
  }

  async abandon(): Promise<void> {
    await this.fh?.close()
    this.fh = undefined
    removeFile(this.dump)
  }
}
