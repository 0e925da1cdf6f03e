import type { Xattr } from '../guest-fs.js'
import type { Extent } from './xfs-bmbt-rec.js'
import { unsupported } from './xfs-damage.js'
import type { Dinode, Fork } from './xfs-dinode.js'
import type { XfsVolume } from './xfs-volume.js'

export async function inodeXattrs(x: XfsVolume, d: Dinode, _extents: (d: Dinode, f: Fork) => Promise<Extent[]>): Promise<Xattr[]> {
  if (!d.attr) return []
  throw unsupported(x.where(d.ino, d.at), 'extended attributes are not read yet')
}
