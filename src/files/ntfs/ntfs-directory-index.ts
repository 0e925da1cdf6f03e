// A directory's $I30 index, walked in order and streamed: the B-tree starts
// in the resident $INDEX_ROOT and continues in INDX blocks of
// $INDEX_ALLOCATION, whose in-use blocks $BITMAP marks. An entry with a
// sub-node comes after every entry of that sub-node, so an in-order walk
// keeps one block per tree level (a buffer per level, reused); memory does
// not grow with the directory. Each block is visited once (a loop in the tree
// is damage), must lie inside the allocation and be marked in use, and its
// fixups and own VCN are checked (trim/ntfs/ntfs-index).

import { ATTR, type Attribute } from '../../trim/ntfs/ntfs-attribute.js'
import { checkIndexBlock, INDEX_BLOCK_HEADER, indexEntries } from '../../trim/ntfs/ntfs-index.js'
import { ensure } from '../../trim/ntfs/ntfs-skip.js'
import { type DataStream, joinSegments, type StreamReader } from './ntfs-data-stream.js'

const I30 = '$I30'
/** Offset of the index header in $INDEX_ROOT. */
const ROOT_HEADER = 0x10
/** Deeper than any B-tree of 2^32 entries; a deeper chain is damage. */
const MAX_DEPTH = 32

export interface IndexEntry {
  /** MFT reference (record number in the low 48 bits, sequence in the high 16). */
  ref: bigint
  /** The key: a $FILE_NAME value. */
  key: Buffer
}

interface Frame {
  entries: Generator<{ ref: bigint; key: Buffer; child?: number }>
  /** The entry to yield once the sub-node walked below this frame is done. */
  pending?: { ref: bigint; key: Buffer }
}

/** The attributes of one stream named $I30 among a directory's attributes (all segments). */
const segments = (attrs: Attribute[], type: number) => attrs.filter(a => a.type === type && a.name === I30)

/**
 * The entries of the directory whose attributes are `attrs`, in index order,
 * without the closing (key-less) entry of each node. `indexBlockSize` and
 * `clusters` from the boot sector: the index lies inside the volume, which
 * bounds its $BITMAP (the one buffer sized by the index).
 */
export async function* walkDirectoryIndex(attrs: Attribute[], reader: StreamReader, indexBlockSize: number, clusters: number): AsyncGenerator<IndexEntry> {
  const roots = segments(attrs, ATTR.indexRoot)
  ensure(roots.length === 1, `directory has ${roots.length} $INDEX_ROOT $I30 attributes`)
  const root = roots[0]!
  ensure(root.resident && root.value.length >= 0x20, '$INDEX_ROOT malformed')
  const blockSize = root.value.readUInt32LE(0x08) // 0x08 index block size
  ensure(blockSize === indexBlockSize, `$INDEX_ROOT: index block size ${blockSize} differs from the boot sector's ${indexBlockSize}`)
  const cs = reader.clusterSize
  // VCNs count clusters, or 512-byte blocks when index blocks are smaller than a cluster.
  const vcnSize = blockSize >= cs ? cs : 512
  let alloc: DataStream | undefined
  let bitmap: Buffer | undefined
  const seen = new Set<number>()
  const buffers: Buffer[] = []
  const open = async (vcn: number, depth: number): Promise<Frame> => {
    const where = `$I30 index block VCN ${vcn}`
    if (alloc === undefined) {
      alloc = joinSegments(segments(attrs, ATTR.indexAllocation), cs, '$INDEX_ALLOCATION $I30')
      ensure(!alloc.resident && alloc.unit === 0, '$INDEX_ALLOCATION $I30 is resident or compressed')
      ensure(alloc.dataSize <= clusters * cs, `$INDEX_ALLOCATION $I30 of ${alloc.dataSize} bytes is larger than the volume`)
      const blocks = Math.floor(alloc.dataSize / blockSize)
      const bm = joinSegments(segments(attrs, ATTR.bitmap), cs, '$BITMAP $I30')
      ensure(bm.dataSize >= Math.ceil(blocks / 8), `$BITMAP $I30 of ${bm.dataSize} bytes is too small for ${blocks} index blocks`)
      bitmap = Buffer.alloc(Math.ceil(blocks / 8))
      await reader.read(bm, 0, bitmap)
    }
    const byte = vcn * vcnSize
    ensure(byte % blockSize === 0 && byte + blockSize <= alloc.dataSize, `${where} is outside $INDEX_ALLOCATION (${alloc.dataSize} bytes)`)
    const block = byte / blockSize
    ensure((bitmap![block >> 3]! & (1 << (block & 7))) !== 0, `${where} is not marked in use in $BITMAP`)
    ensure(!seen.has(vcn), `${where} is reached twice: the index tree has a loop`)
    seen.add(vcn)
    ensure(depth < MAX_DEPTH, `${where}: index tree deeper than ${MAX_DEPTH}`)
    buffers[depth] ??= Buffer.alloc(blockSize)
    const buf = buffers[depth]!
    await reader.read(alloc, byte, buf)
    checkIndexBlock(buf, vcn, where)
    return { entries: indexEntries(buf, INDEX_BLOCK_HEADER, where) }
  }
  const stack: Frame[] = [{ entries: indexEntries(root.value, ROOT_HEADER, '$INDEX_ROOT $I30') }]
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!
    const next = top.entries.next()
    if (next.done) {
      stack.pop()
      const parent = stack[stack.length - 1]
      if (parent?.pending) {
        const e = parent.pending
        parent.pending = undefined
        if (e.key.length > 0) yield e
      }
      continue
    }
    const e = next.value
    if (e.child !== undefined) {
      top.pending = { ref: e.ref, key: e.key }
      stack.push(await open(e.child, stack.length))
    } else if (e.key.length > 0) yield { ref: e.ref, key: e.key }
  }
}
