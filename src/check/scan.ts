// Drives a VmaParser over an input: either the whole plain stream, or, for a
// seekable plain file, only the headers (data blocks are skipped by offset).

import { EXTENT_HEADER_SIZE } from '../format/constants.js'
import { VmaHeader } from '../format/header.js'
import type { ArchiveInput } from '../input/archive-input.js'
import type { PositionalFile } from '../input/positional-file.js'
import { VmaParser } from '../format/vma-parser.js'
import type { VmaSink } from '../format/vma-sink.js'

export type ProgressFn = (bytes: number) => void

/** Feeds every chunk of a plain VMA stream to a parser, then ends it. */
export async function scanChunks(chunks: AsyncIterable<Uint8Array>, sinks: VmaSink[], progress?: ProgressFn): Promise<VmaParser> {
  const parser = new VmaParser(sinks)
  for await (const chunk of chunks) {
    parser.write(chunk)
    progress?.(parser.position)
  }
  parser.end()
  return parser
}

/** Feeds every byte of an input's plain stream to the parser. */
export function scanStream(input: ArchiveInput, sinks: VmaSink[], progress?: ProgressFn): Promise<VmaParser> {
  return scanChunks(input.chunks(), sinks, progress)
}

/**
 * Reads the header and every extent header with positional reads and skips
 * the data. Finds everything a full scan finds except what lies inside the
 * data blocks (which VMA does not checksum anyway).
 */
export async function scanHeaders(file: PositionalFile, sinks: VmaSink[], progress?: ProgressFn): Promise<VmaParser> {
  const parser = new VmaParser(sinks)
  // magic and header_size first: the size must be checked before we allocate it
  const start = Buffer.alloc(60)
  const got = await file.read(start, 0, 60, 0)
  if (got < 60) {
    parser.write(start.subarray(0, got))
    parser.end()
    return parser
  }
  const headerSize = VmaHeader.headerSizeOf(start) // at most MAX_HEADER_SIZE
  const header = Buffer.alloc(headerSize)
  const n = await file.read(header, 0, headerSize, 0)
  parser.write(header.subarray(0, n))
  const ext = Buffer.alloc(EXTENT_HEADER_SIZE)
  let pos = n
  while (n === headerSize && pos < file.size) {
    const m = await file.read(ext, 0, EXTENT_HEADER_SIZE, pos)
    parser.write(ext.subarray(0, m))
    pos += m
    if (m < EXTENT_HEADER_SIZE) break
    const skip = Math.min(parser.dataLeftInExtent, file.size - pos)
    parser.skipData(skip)
    pos += skip
    progress?.(pos)
  }
  parser.end()
  return parser
}
