import { EXIT_INTERNAL, EXIT_SIGPIPE, VmaError, fromSystemError } from '../util/errors.js'
import type { CliIO } from './cli-io.js'

/**
 * Prints one line for any error and returns the exit status. A VmaError
 * names the file, the offset and its code; anything else is an internal
 * error or an unexpected system error, still one line, never a stack trace
 * (set VMA_OPT_DEBUG=1 to see one).
 */
export function reportError(io: CliIO, err: unknown): number {
  let e: VmaError
  // Only our output can break a pipe (a decompressor's closed stdin is not
  // reported this way): the reader went away, so end quietly, like SIGPIPE.
  if (err instanceof VmaError && err.errno === 'EPIPE') return EXIT_SIGPIPE
  if (err instanceof VmaError) e = err
  else if (err && typeof (err as NodeJS.ErrnoException).code === 'string' && (err as NodeJS.ErrnoException).syscall) e = fromSystemError(err, 'error')
  else {
    io.stderr.write(`vma-opt: internal error: ${err instanceof Error ? err.message : String(err)}\n`)
    if (process.env.VMA_OPT_DEBUG) io.stderr.write(`${(err as Error)?.stack}\n`)
    return EXIT_INTERNAL
  }
  // The file once: some messages already start with it.
  const file = e.file && !e.message.startsWith(`${e.file}: `) ? `${e.file}: ` : ''
  io.stderr.write(`vma-opt: ${file}${e.message} (${e.code})\n`)
  if (process.env.VMA_OPT_DEBUG) io.stderr.write(`${e.stack}\n`)
  return e.exitCode
}
