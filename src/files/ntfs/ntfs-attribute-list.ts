// $ATTRIBUTE_LIST (attribute 0x20): when a file's attributes do not fit its
// base MFT record (many hard links, many streams, a long runlist), they are
// spread over extension records and the base record lists where each
// attribute (or each segment of a long stream) lives. Entries: 0x00 type,
// 0x04 entry length, 0x06 name length, 0x07 name offset, 0x08 lowest VCN,
// 0x10 MFT reference of the record holding it, 0x18 attribute id, then the name.

import { ATTR, type Attribute, type AttributeOptions, readAttributes } from '../../trim/ntfs/ntfs-attribute.js'
import type { MftRecord } from '../../trim/ntfs/ntfs-record.js'
import { ensure } from '../../trim/ntfs/ntfs-skip.js'
import { joinSegments, type StreamReader } from './ntfs-data-stream.js'

/** Windows keeps an attribute list under 256 KiB; anything larger is not trusted. */
const MAX_LIST_BYTES = 256 * 1024
const ENTRY_MIN = 0x1a
const REF_MASK = 0xffffffffffffn

/** What the attribute list walk needs from the volume. */
export interface RecordSource {
  clusters: number
  clusterSize: number
  opts: AttributeOptions
  reader: StreamReader
  /** MFT record `n` read and its fixups checked (errors name the record). */
  record(n: number): Promise<MftRecord>
}

/** The MFT records an attribute list names, each once, in the order first named. */
export function listedRecords(list: Buffer, base: MftRecord): { number: number; sequence: number }[] {
  const out = new Map<number, number>()
  for (let p = 0; p < list.length; ) {
    ensure(p + ENTRY_MIN <= list.length, `$ATTRIBUTE_LIST entry at ${p} cut off`)
    const length = list.readUInt16LE(p + 0x04) // 0x04 entry length
    ensure(length >= ENTRY_MIN && length % 8 === 0 && p + length <= list.length, `$ATTRIBUTE_LIST entry at ${p}: length ${length} invalid`)
    const ref = list.readBigUInt64LE(p + 0x10) // 0x10 MFT reference of the holding record
    const number = Number(ref & REF_MASK)
    const sequence = Number(ref >> 48n)
    const known = out.get(number)
    ensure(known === undefined || known === sequence, `$ATTRIBUTE_LIST names record ${number} with two sequence numbers`)
    if (number !== base.number) out.set(number, sequence)
    p += length
  }
  return [...out].map(([number, sequence]) => ({ number, sequence }))
}

/**
 * Every attribute of the file whose base record is `base`: its own and, with
 * an attribute list, those of the extension records it names. Each extension
 * record must be in use, say `base` is its base record (number and sequence)
 * and hold no attribute list of its own; each is read once, so a list that
 * names records in a circle ends.
 */
export async function gatherAttributes(src: RecordSource, base: MftRecord): Promise<Attribute[]> {
  const own = readAttributes(base, src.clusters, src.clusterSize, src.opts)
  const lists = own.filter(a => a.type === ATTR.attributeList)
  if (lists.length === 0) return own
  ensure(lists.length === 1, `${lists.length} $ATTRIBUTE_LIST attributes`)
  const stream = joinSegments(lists, src.clusterSize, '$ATTRIBUTE_LIST')
  ensure(stream.dataSize <= MAX_LIST_BYTES, `$ATTRIBUTE_LIST of ${stream.dataSize} bytes (more than ${MAX_LIST_BYTES})`)
  const list = Buffer.alloc(stream.dataSize)
  await src.reader.read(stream, 0, list)
  const all = own.filter(a => a.type !== ATTR.attributeList)
  for (const { number, sequence } of listedRecords(list, base)) {
    const rec = await src.record(number)
    const what = `extension record ${number} (named by the $ATTRIBUTE_LIST of record ${base.number})`
    ensure(rec.inUse && rec.sequence === sequence, `${what} is not in use with sequence ${sequence}`)
    ensure(Number(rec.baseRecord & REF_MASK) === base.number && Number(rec.baseRecord >> 48n) === base.sequence, `${what} belongs to record ${rec.baseRecord & REF_MASK}`)
    const attrs = readAttributes(rec, src.clusters, src.clusterSize, src.opts)
    ensure(!attrs.some(a => a.type === ATTR.attributeList), `${what} has an $ATTRIBUTE_LIST of its own`)
    for (const a of attrs) all.push(a)
  }
  return all
}
