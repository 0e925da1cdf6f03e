// Drives a VmaParser over an input: either the whole plain stream, or, for a
// seekable plain file, only the headers (data blocks are skipped by offset).

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

/** Bytes read at once while extent headers follow each other closely. */
const WINDOW = 64 << 10
/** How long the scan may hold the event loop before it lets signals and progress timers run. */
const TURN_MS = 50

/**
 * Reads the header and every extent header with positional reads and skips
 * the data. Finds everything a full scan finds except what lies inside the
 * data blocks (which VMA does not checksum anyway).
 *
 * One extent header depends on the one before (its data decides where the
 * next begins), so the reads cannot overlap: they are synchronous preads,
 * which from the page cache cost a few microseconds where a round trip
 * through libuv's thread pool costs tens (serve's start-up on a 100 GiB
 * archive is tens of thousands of them). After an extent with little or no
 * data (all-zero clusters, the tail of a device) the next headers are close
 * by, so a whole window is read and several headers come out of one read.
 */
export async function scanHeaders(file: PositionalFile, sinks: VmaSink[], progress?: ProgressFn): Promise<VmaParser> {
  const parser = new VmaParser(sinks)
  // magic and header_size first: the size must be checked before we allocate it
  const start = Buffer.alloc(60)
  const got = file.readSync(start, 0, 60, 0)
  if (got < 60) {
    parser.write(start.subarray(0, got))
    parser.end()
    return parser
  }
  const headerSize = VmaHeader.headerSizeOf(start) // at most MAX_HEADER_SIZE
  const header = Buffer.alloc(headerSize)
  const n = file.readSync(header, 0, headerSize, 0)
  parser.write(header.subarray(0, n))
  const win = Buffer.allocUnsafe(WINDOW)
  let winAt = 0 // file offset of win[0]
  let winLen = 0
  let pos = n
  let turn = Date.now()
  // An extent header, and in a DLT2 delta the check sector after it.
  const head = parser.extentHeadSize
  while (n === headerSize && pos < file.size) {
    if (pos < winAt || pos + head > winAt + winLen) {
      // A large read only while headers come close together; one header otherwise.
      const near = pos - (winAt + winLen) < WINDOW
      winAt = pos
      winLen = file.readSync(win, 0, near ? WINDOW : head, pos)
    }
    const m = Math.min(head, winAt + winLen - pos)
    parser.write(win.subarray(pos - winAt, pos - winAt + m))
    pos += m
    if (m < head) break
    const skip = Math.min(parser.dataLeftInExtent, file.size - pos)
    parser.skipData(skip)
    pos += skip
    if (Date.now() - turn >= TURN_MS) {
      progress?.(pos)
      await new Promise(resolve => setImmediate(resolve))
      turn = Date.now()
    }
  }
  progress?.(pos)
  parser.end()
  return parser
}
