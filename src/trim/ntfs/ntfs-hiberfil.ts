import { ATTR, findAttribute } from './ntfs-attribute.js'
import { findInDirectory } from './ntfs-index.js'
import { MFT_RECORD } from './ntfs-record.js'
import { NtfsSkip, ensure } from './ntfs-skip.js'
import type { NtfsVolume } from './ntfs-volume.js'

/**
 * A hibernated Windows (hibernation or fast startup) holds the volume mounted
 * in its saved memory: its in-memory $Bitmap is what counts, not the disk's.
 * The image is C:\hiberfil.sys with a header starting `hibr`/`HIBR`; after a
 * resume or a full shutdown the header is zeroed (or `wake`). Any other header
 * is a doubt.
 */
const SAFE_HEADERS = new Set(['00000000', Buffer.from('wake').toString('hex'), Buffer.from('WAKE').toString('hex')])
const HIBERNATED = new Set(['hibr', 'HIBR'])
const FLAGS_UNREADABLE = 0x00ff | 0x4000 // compressed, encrypted

/** A description of hiberfil.sys for the report; throws NtfsSkip when it may hold a hibernation image. */
export async function checkHiberfil(ntfs: NtfsVolume): Promise<string> {
  const refs = await findInDirectory(ntfs, MFT_RECORD.root, 'hiberfil.sys')
  if (refs.length === 0) return 'absent'
  const ref = refs[0]!
  ensure(
    refs.every(r => r === ref),
    'root directory has several hiberfil.sys entries for different files',
  )
  const number = Number(ref & 0xffffffffffffn)
  const sequence = Number(ref >> 48n)
  const rec = await ntfs.baseRecord(number, 'hiberfil.sys')
  ensure(rec.sequence === sequence, `hiberfil.sys index entry is stale (sequence ${sequence}, record has ${rec.sequence})`)
  const attrs = ntfs.attributes(rec)
  ensure(!attrs.some(a => a.type === ATTR.attributeList), 'hiberfil.sys has an $ATTRIBUTE_LIST (not handled)')
  const data = findAttribute(attrs, ATTR.data, '', 'hiberfil.sys')
  ensure((data.flags & FLAGS_UNREADABLE) === 0, 'hiberfil.sys is compressed or encrypted: header unreadable')
  const size = data.resident ? data.value.length : data.dataSize
  if (size === 0) return 'empty'
  const head = await ntfs.readStream(data, 0, Math.min(4, size))
  const magic = head.toString('latin1')
  if (HIBERNATED.has(magic)) throw new NtfsSkip(`hiberfil.sys holds a hibernation image ('${magic}'): Windows hibernated or fast startup`)
  ensure(head.length === 4 && SAFE_HEADERS.has(head.toString('hex')), `hiberfil.sys header ${head.toString('hex')} is not zeroed or 'wake'`)
  return `present, header ${head.toString('hex')}`
}
