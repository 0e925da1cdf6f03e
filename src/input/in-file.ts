// Errors of the compression layer name their file through `file`, never in
// the message as well: every command adds the input's name in front once.

import type { VmaError } from '../util/errors.js'

/** `e`, naming `label` as its file. */
export function inFile(e: VmaError, label: string): VmaError {
  e.file = label
  return e
}
