// src/util/: the bottom layer, knowing nothing of VMA: errors and exit codes,
// problem lists, temp-file bookkeeping and signal cleanup, hashing, bitsets,
// the zero test, human-readable numbers, finding external programs.
//
// Every failure vma-opt reports carries a stable code. The code decides the
// exit status (spec/cli.md); the message says where and what, with numbers.

export const EXIT_OK = 0
/** The archive is invalid or damaged. */
export const EXIT_INVALID = 1
/** The command line is wrong. */
export const EXIT_USAGE = 2
/** I/O or environment: missing file, permission, no space, missing tool. */
export const EXIT_IO = 3
/** A bug in vma-opt: an error it did not expect. */
export const EXIT_INTERNAL = 4
export const EXIT_SIGINT = 130
export const EXIT_SIGTERM = 143
/** The reader of our stdout went away (EPIPE), as SIGPIPE would end a C tool. */
export const EXIT_SIGPIPE = 141

/** Codes that mean "the archive (or its compression layer) is bad": exit 1. */
export const ARCHIVE_CODES = [
  'VMA_EMPTY',
  'VMA_BAD_MAGIC',
  'VMA_HEADER_TRUNCATED',
  'VMA_HEADER_SIZE',
  'VMA_HEADER_MD5',
  'VMA_BAD_VERSION',
  'VMA_BLOB_OFFSET',
  'VMA_BLOB_SIZE',
  'VMA_BAD_POINTER',
  'VMA_BAD_NAME',
  'VMA_DUPLICATE_NAME',
  'VMA_DEVICE_255',
  'VMA_DEVICE_SIZE',
  'VMA_EXTENT_MD5',
  'VMA_EXTENT_UUID',
  'VMA_EXTENT_MAGIC',
  'VMA_EXTENT_RESERVED',
  'VMA_EXTENT_TRUNCATED',
  'VMA_BLOCK_COUNT',
  'VMA_TRAILING_BYTES',
  'VMA_UNKNOWN_DEVICE',
  'VMA_CLUSTER_RANGE',
  'VMA_MASK_RANGE',
  'VMA_DUPLICATE_CLUSTER',
  'VMA_MISSING_CLUSTER',
  'VMA_VMSTATE_ORDER',
  'VMA_COMPRESSION_CORRUPT',
  'VMA_UNSUPPORTED_COMPRESSION',
  // deltas (spec/delta-format.md)
  'VMA_IS_DELTA',
  'VMA_NOT_DELTA',
  'VMA_DELTA_IDENTITY',
  'VMA_DELTA_CHAIN',
  'VMA_DELTA_DATA',
] as const

/** Codes for problems outside the archive: exit 3. */
export const ENV_CODES = ['VMA_IO', 'VMA_NO_SPACE', 'VMA_TOOL_MISSING', 'VMA_EXISTS'] as const

/**
 * Codes for vma-opt's own failures: exit 4. VMA_DIGEST_MISMATCH is the
 * read-back proof of what vma-opt itself wrote failing: the input is fine
 * (it passed every check), so this is a bug to report, not a damaged backup.
 */
export const INTERNAL_CODES = ['VMA_DIGEST_MISMATCH'] as const

export type ArchiveErrorCode = (typeof ARCHIVE_CODES)[number]
export type EnvErrorCode = (typeof ENV_CODES)[number]
/** What was asked cannot be done as asked (exit 2): bad pack inputs, unknown device names. */
export type UsageErrorCode = 'VMA_USAGE' | 'VMA_CANNOT_PACK'

export type InternalErrorCode = (typeof INTERNAL_CODES)[number]

/** Another vma-opt run holds the file (util/file-lock): exit 1 (spec/cli.md). */
export type BusyErrorCode = 'VMA_LOCKED'

/**
 * A guest filesystem (`ls`, `get`: src/files/) is damaged (exit 1), uses a
 * feature vma-opt cannot read yet (exit 2), or has no such path (exit 2).
 */
export type GuestErrorCode = 'VMA_GUEST_DAMAGED' | 'VMA_GUEST_UNSUPPORTED' | 'VMA_NOT_FOUND'

export type VmaErrorCode = ArchiveErrorCode | EnvErrorCode | UsageErrorCode | InternalErrorCode | BusyErrorCode | GuestErrorCode

/** Marks a VmaError whichever copy of this module made it (see Symbol.hasInstance below). */
const BRAND = Symbol.for('vma-opt.VmaError')

/**
 * A problem with a location. `offset` is a byte offset in the plain
 * (decompressed) VMA stream, or -1 when the problem has no single place
 * (a missing cluster, a missing tool).
 */
export class VmaError extends Error {
  readonly code: VmaErrorCode
  readonly offset: number
  readonly detail: string
  /** The input this is about, filled in by whoever knows the name. */
  file?: string
  /** The system error behind it (ENOENT, EPIPE...), when there is one. */
  errno?: string

  constructor(code: VmaErrorCode, offset: number, detail: string, where?: string) {
    const place = where !== undefined && offset >= 0 ? `${where} at offset ${offset}: ` : where !== undefined ? `${where}: ` : ''
    super(place + detail)
    this.name = 'VmaError'
    this.code = code
    this.offset = offset
    this.detail = detail
    Object.defineProperty(this, BRAND, { value: true })
  }

  /**
   * `instanceof VmaError` by brand, not by class identity: one process may
   * hold two copies of this module (two copies of vma-opt under node_modules,
   * or a test's mockImport, which loads fresh copies below the module it
   * mocks), and an error thrown by one copy must not turn into an "internal
   * error" in the other. No class extends VmaError (this would match it too).
   */
  static override [Symbol.hasInstance](x: unknown): boolean {
    return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[BRAND] === true
  }

  get exitCode(): number {
    return exitCodeFor(this.code)
  }

  toJSON() {
    return { code: this.code, offset: this.offset >= 0 ? this.offset : null, message: this.message }
  }
}

export function exitCodeFor(code: VmaErrorCode): number {
  if (code === 'VMA_USAGE' || code === 'VMA_CANNOT_PACK' || code === 'VMA_GUEST_UNSUPPORTED' || code === 'VMA_NOT_FOUND') return EXIT_USAGE
  if ((ENV_CODES as readonly string[]).includes(code)) return EXIT_IO
  if ((INTERNAL_CODES as readonly string[]).includes(code)) return EXIT_INTERNAL
  return EXIT_INVALID
}

/** Map a Node system error (ENOENT, ENOSPC, EACCES...) to a VmaError. */
export function fromSystemError(err: unknown, what: string): VmaError {
  const e = err as NodeJS.ErrnoException
  if (e instanceof VmaError) return e
  const code = e && typeof e.code === 'string' ? e.code : ''
  const reason =
    code === 'ENOENT'
      ? 'no such file or directory'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'ENOSPC'
          ? 'no space left on device'
          : code === 'EISDIR'
            ? 'is a directory'
            : code === 'EROFS'
              ? 'read-only file system'
              : code === 'EDQUOT'
                ? 'disk quota exceeded'
                : code === 'EEXIST'
                  ? 'already exists'
                  : code === 'EPIPE'
                    ? 'broken pipe'
                    : code === 'ENOTDIR'
                      ? 'not a directory'
                      : e?.message
                        ? e.message
                        : String(err)
  const vcode = code === 'ENOSPC' || code === 'EDQUOT' ? 'VMA_NO_SPACE' : code === 'EEXIST' ? 'VMA_EXISTS' : 'VMA_IO'
  const out = new VmaError(vcode, -1, `${what}: ${reason}`)
  if (code) out.errno = code
  return out
}
