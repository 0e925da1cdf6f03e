// Errors of the compression layer name their file through `file`, never in
// the message as well: every command adds the input's name in front once.

import type { VmaError } from '../util/errors.js'

/** `e`, naming `label` as its file. */
export function inFile(e: VmaError, label: string): VmaError {
  e.file = label
  return e
}

/**
 * The one wording for a compressed input that stops mid-stream, whichever
 * decoder noticed (libzstd, the zstd/gzip/lzop programs, fzstd, zlib): a
 * copy cut short is the common case, and "Read error (39)" says nothing.
 */
export function truncated(at?: number): string {
  return `truncated: the compressed stream ends early${at === undefined ? '' : ` (after ${at} compressed bytes)`}`
}

/** Decoder messages that mean the input ended too soon. */
export const ENDS_EARLY = /premature end|unexpected end of (file|input)|ends inside a frame/i
