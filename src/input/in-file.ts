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

/**
 * The one wording for zstd data that does not decode, whichever decoder
 * noticed (libzstd, the zstd program, fzstd with our frame splitter and
 * checksum check): a frame whose content checksum disagrees with what it
 * decodes to, or a frame malformed in any other way. `detail`, the decoder's
 * own words and the compressed offset where it knows one, differs from
 * decoder to decoder and so comes last, in parentheses.
 */
export function zstdCorrupt(checksum: boolean, detail: string): string {
  return `zstd data is corrupt: ${checksum ? "a frame's content checksum does not match its data" : 'a frame is malformed'} (${detail})`
}

/** Decoder messages that mean a frame's content checksum did not match. */
export const CHECKSUM_MISMATCH = /checksum/i

/** Decoder messages that mean the input ended too soon. */
export const ENDS_EARLY = /premature end|unexpected end of (file|input)|ends inside a frame/i
