// A guest path to a file, resolved as the guest's kernel would inside the
// guest's root: symlinks in the middle followed (absolute targets start again
// at the guest's root, never the host's), `..` never above the root, at most
// MAX_HOPS symlinks (the kernel's 40), so a loop of links ends in an error.
// The last component is a symlink itself unless the path ends in '/'.

import type { FileId, FileStat, GuestFs } from '../files/guest-fs.js'
import { VmaError } from '../util/errors.js'

export const MAX_HOPS = 40

export interface Resolved {
  id: FileId
  stat: FileStat
  /** The last component's bytes ('/' for the root). */
  name: Buffer
}

const SLASH = 0x2f

function components(b: Buffer): Buffer[] {
  const out: Buffer[] = []
  let from = 0
  for (let i = 0; i <= b.length; i++) {
    if (i === b.length || b[i] === SLASH) {
      if (i > from) out.push(b.subarray(from, i))
      from = i + 1
    }
  }
  return out
}

const isDot = (c: Buffer) => c.length === 1 && c[0] === 0x2e
const isDotDot = (c: Buffer) => c.length === 2 && c[0] === 0x2e && c[1] === 0x2e

/** The entry `name` of directory `dir`, or undefined (streams the directory: memory stays bounded). */
export async function lookup(fs: GuestFs, dir: FileId, name: Buffer): Promise<FileId | undefined> {
  for await (const e of fs.readdir(dir)) if (e.name.equals(name)) return e.id
  return undefined
}

/** `followLast`: a symlink at the end is followed too (as for `get ... -`, which writes its target's bytes). */
export async function resolvePath(fs: GuestFs, path: string, where: string, followLast = path.endsWith('/')): Promise<Resolved> {
  if (!path.startsWith('/')) throw new VmaError('VMA_USAGE', -1, `${where}: the path ${JSON.stringify(path)} must be absolute`)
  const notFound = (what: string) => new VmaError('VMA_NOT_FOUND', -1, `${where}:${path}: ${what}`)
  // Directories from the root down to where we are, with their names: `..` pops one, never the root.
  const stack: FileId[] = [fs.root]
  const names: Buffer[] = [Buffer.from('/')]
  let pending = components(Buffer.from(path))
  let name: Buffer = Buffer.from('/')
  let hops = 0
  let stat = await fs.stat(fs.root)
  while (pending.length > 0) {
    const c = pending.shift()!
    if (isDot(c)) continue
    if (isDotDot(c)) {
      if (stack.length > 1) {
        stack.pop()
        names.pop()
      }
      stat = await fs.stat(stack[stack.length - 1]!)
      name = names[names.length - 1]!
      continue
    }
    if (stat.type !== 'dir') throw notFound(`${printable(name)} is not a directory`)
    const id = await lookup(fs, stack[stack.length - 1]!, c)
    if (id === undefined) throw notFound(`no ${printable(c)} in ${printable(name)}`)
    const st = await fs.stat(id)
    if (st.type === 'symlink' && (pending.length > 0 || followLast)) {
      if (++hops > MAX_HOPS) throw notFound(`more than ${MAX_HOPS} symlinks (a loop?)`)
      const target = await fs.readlink(id)
      if (target.length === 0) throw notFound(`${printable(c)} is an empty symlink`)
      if (target[0] === SLASH) {
        stack.length = 1
        names.length = 1
      }
      stat = await fs.stat(stack[stack.length - 1]!)
      name = names[names.length - 1]!
      pending = [...components(target), ...pending]
      continue
    }
    stack.push(id)
    names.push(c)
    stat = st
    name = c
  }
  return { id: stack[stack.length - 1]!, stat, name }
}

/**
 * A guest name for a terminal or a log: printable UTF-8 as it is, every
 * other byte (control characters, a newline, invalid UTF-8) and the
 * backslash as \xNN, so a name can neither break a line nor move the cursor.
 */
export function printable(name: Buffer): string {
  let out = ''
  let i = 0
  while (i < name.length) {
    const b = name[i]!
    const len = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0
    if (len > 1 && i + len <= name.length) {
      const s = name.toString('utf8', i, i + len)
      // One code point that decodes back to the same bytes, and is not a control or format character.
      if (s.length <= 2 && !s.includes('\ufffd') && Buffer.byteLength(s) === len && !/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(s)) {
        out += s
        i += len
        continue
      }
    }
    if (len === 1 && b >= 0x20 && b < 0x7f && b !== 0x5c) out += String.fromCharCode(b)
    else out += `\\x${b.toString(16).padStart(2, '0')}`
    i++
  }
  return out
}
