// An inode's extended attributes from its attribute fork: shortform (in the
// inode) or leaf/node blocks (xfs-attr-leaf.ts) mapped by extents or a btree.

import type { Xattr } from '../guest-fs.js'
import { leafXattrs } from './xfs-attr-leaf.js'
import { shortformXattrs } from './xfs-attr-sf.js'
import type { Extent } from './xfs-bmbt-rec.js'
import { damaged } from './xfs-damage.js'
import { type Dinode, type Fork, FMT, forkBytes } from './xfs-dinode.js'
import { ExtentMap } from './xfs-extent-map.js'
import type { XfsVolume } from './xfs-volume.js'

export async function inodeXattrs(x: XfsVolume, d: Dinode, extents: (d: Dinode, f: Fork) => Promise<Extent[]>): Promise<Xattr[]> {
  const f = d.attr
  if (!f) return []
  const w = x.where(d.ino, d.at + f.off)
  if (f.format === FMT.LOCAL) return shortformXattrs(forkBytes(d, f), w)
  if (f.format !== FMT.EXTENTS && f.format !== FMT.BTREE) throw damaged(w, `attribute fork format ${f.format}`)
  if (f.format === FMT.EXTENTS && f.nextents === 0) return []
  return leafXattrs(x, d.ino, new ExtentMap(await extents(d, f), x.sb.blockSize))
}
