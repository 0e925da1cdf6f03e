import { ATTR, findAttribute } from './ntfs-attribute.js'
import { applyFixups } from './ntfs-fixup.js'
import { ensure } from './ntfs-skip.js'
import type { NtfsVolume } from './ntfs-volume.js'

/**
 * Looking a name up in a directory's $I30 index: the B-tree starts in the
 * resident $INDEX_ROOT and continues in `INDX` blocks of $INDEX_ALLOCATION.
 * The whole tree is walked (no collation, so no $UpCase table is needed); each
 * block is visited once and every block's fixups are checked.
 */
const ENTRY_SUBNODE = 0x01
const ENTRY_LAST = 0x02
const I30 = '$I30'

/** Entries of one index node: buf[header..] is an index header (offsets relative to it); the last entry has an empty key. */
export function* indexEntries(buf: Buffer, header: number, what: string): Generator<{ ref: bigint; key: Buffer; child?: number }> {
  ensure(header + 0x10 <= buf.length, `${what}: index header cut off`)
  const first = buf.readUInt32LE(header + 0x00) // +0x00 offset of the first entry
  const used = buf.readUInt32LE(header + 0x04) // +0x04 bytes in use
  const end = header + used
  ensure(end <= buf.length && first >= 0x10 && first % 8 === 0, `${what}: index header out of range`)
  for (let p = header + first; ; ) {
    ensure(p + 0x10 <= end, `${what}: index entries run past the node without a last entry`)
    const ref = buf.readBigUInt64LE(p + 0x00) // +0x00 MFT reference of the file
    const length = buf.readUInt16LE(p + 0x08) // +0x08 entry length
    const keyLength = buf.readUInt16LE(p + 0x0a) // +0x0A key length
    const flags = buf.readUInt16LE(p + 0x0c) // +0x0C flags: 1 sub-node, 2 last entry
    ensure(length >= 0x10 && length % 8 === 0 && p + length <= end && 0x10 + keyLength <= length, `${what}: index entry malformed`)
    const sub = (flags & ENTRY_SUBNODE) !== 0
    ensure(!sub || length >= 0x18 + keyLength, `${what}: index entry too short for its sub-node pointer`)
    const child = sub ? Number(buf.readBigUInt64LE(p + length - 8)) : undefined // last 8 bytes: child VCN
    yield { ref, key: flags & ENTRY_LAST ? Buffer.alloc(0) : buf.subarray(p + 0x10, p + 0x10 + keyLength), child }
    if (flags & ENTRY_LAST) return
    p += length
  }
}

/** The FILE_NAME key's name (0x40 length, 0x42 UTF-16LE name), or undefined if the key is not a file name. */
function keyName(key: Buffer): string | undefined {
  if (key.length < 0x42) return undefined
  const len = key[0x40]! // 0x40 name length in UTF-16 units
  if (0x42 + 2 * len > key.length) return undefined
  return key.toString('utf16le', 0x42, 0x42 + 2 * len)
}

/** MFT references of every entry of directory record `dir` whose name equals `name` (ASCII case-insensitive). */
export async function findInDirectory(ntfs: NtfsVolume, dirRecord: number, name: string): Promise<bigint[]> {
  const dir = await ntfs.baseRecord(dirRecord, 'directory')
  const what = `directory index of MFT record ${dirRecord}`
  ensure(dir.isDirectory, `MFT record ${dirRecord} is not a directory`)
  const attrs = ntfs.attributes(dir)
  ensure(!attrs.some(a => a.type === ATTR.attributeList), `${what}: directory has an $ATTRIBUTE_LIST (not handled)`)
  const root = findAttribute(attrs, ATTR.indexRoot, I30, what)
  ensure(root.resident && root.value.length >= 0x20, `${what}: $INDEX_ROOT malformed`)
  const blockSize = root.value.readUInt32LE(0x08) // 0x08 index block size
  ensure(blockSize === ntfs.boot.indexBlockSize, `${what}: index block size ${blockSize} differs from the boot sector's`)
  const wanted = name.toLowerCase()
  const found: bigint[] = []
  const children: number[] = []
  const visit = (buf: Buffer, header: number, where: string) => {
    for (const e of indexEntries(buf, header, where)) {
      if (e.child !== undefined) children.push(e.child)
      if (keyName(e.key)?.toLowerCase() === wanted) found.push(e.ref)
    }
  }
  visit(root.value, 0x10, `${what} root`) // 0x10: index header of the root
  if (children.length === 0) return found
  const alloc = findAttribute(attrs, ATTR.indexAllocation, I30, what)
  ensure(!alloc.resident, `${what}: $INDEX_ALLOCATION is resident`)
  // VCNs count clusters, or 512-byte blocks when index blocks are smaller than a cluster.
  const vcnSize = blockSize >= ntfs.boot.clusterSize ? ntfs.boot.clusterSize : 512
  const maxBlocks = Math.floor(alloc.dataSize / blockSize)
  const seen = new Set<number>()
  while (children.length > 0) {
    const vcn = children.pop()!
    const where = `${what} block VCN ${vcn}`
    ensure(vcn * vcnSize + blockSize <= alloc.dataSize, `${where} is past the end of $INDEX_ALLOCATION`)
    ensure(!seen.has(vcn) && seen.size < maxBlocks, `${where}: index tree has a loop`)
    seen.add(vcn)
    const block = await ntfs.readStream(alloc, vcn * vcnSize, blockSize)
    checkIndexBlock(block, vcn, where)
    visit(block, INDEX_BLOCK_HEADER, where)
  }
  return found
}

/** Offset of the index header in an INDX block. */
export const INDEX_BLOCK_HEADER = 0x18

/** Checks an INDX block read at `vcn` (its signature, fixups applied in place, its own VCN). */
export function checkIndexBlock(block: Buffer, vcn: number, where: string): void {
  ensure(block.toString('latin1', 0, 4) === 'INDX', `${where} has no INDX signature`)
  applyFixups(block, where)
  ensure(block.readBigUInt64LE(0x10) === BigInt(vcn), `${where} says it is VCN ${block.readBigUInt64LE(0x10)}`) // 0x10 own VCN
}
