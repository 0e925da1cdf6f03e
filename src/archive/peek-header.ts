// The archive header of an input that can be opened again (a compressed
// file), read by decompressing only its first chunks: optimize looks at the
// devices before choosing how to read the whole archive.

import type { ArchiveInput } from '../input/archive-input.js'
import type { VmaHeader } from '../format/header.js'
import { readHeaderOf } from '../check/inspect.js'

/** The header, or undefined if the input ends or fails before it is complete (pass 1 then reports why). */
export async function peekHeader(open: () => Promise<ArchiveInput>): Promise<VmaHeader | undefined> {
  const input = await open()
  try {
    return await readHeaderOf(input)
  } catch {
    return undefined
  } finally {
    await input.close()
  }
}
