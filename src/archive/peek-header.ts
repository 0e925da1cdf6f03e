// The archive header of an input that can be opened again (a compressed
// file), read by decompressing only its first chunks: optimize looks at the
// devices before choosing how to read the whole archive.

import type { ArchiveInput } from '../input/archive-input.js'
import type { VmaHeader } from '../format/header.js'
import { VmaParser } from '../format/vma-parser.js'

/** The header, or undefined if the input ends or fails before it is complete (pass 1 then reports why). */
export async function peekHeader(open: () => Promise<ArchiveInput>): Promise<VmaHeader | undefined> {
  const input = await open()
  try {
    const parser = new VmaParser([])
    for await (const chunk of input.chunks()) {
      // Feed no more than the header: the parser must not go on into extents.
      let at = 0
      while (at < chunk.length && parser.headerBytesNeeded > 0) {
        const n = Math.min(parser.headerBytesNeeded, chunk.length - at)
        parser.write(chunk.subarray(at, at + n))
        at += n
      }
      if (parser.header) return parser.header
    }
    return undefined
  } catch {
    return undefined
  } finally {
    await input.close()
  }
}
