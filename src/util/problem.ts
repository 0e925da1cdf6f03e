import type { VmaError } from './errors.js'

/** A finding of verify: what is wrong and where. */
export interface Problem {
  code: string
  /** Byte offset in the plain VMA stream, or null when there is no one place. */
  offset: number | null
  message: string
}

/**
 * Collects problems, or throws the first one when `failFast` is set (the
 * mode of every command that writes something: one bad cluster is enough to
 * refuse the archive). Keeps at most `limit` problems but counts them all.
 */
export class ProblemList {
  readonly items: Problem[] = []
  total = 0

  constructor(
    readonly failFast: boolean,
    readonly limit = 1000,
  ) {}

  add(err: VmaError): void {
    if (this.failFast) throw err
    this.total++
    if (this.items.length < this.limit) this.items.push({ code: err.code, offset: err.offset >= 0 ? err.offset : null, message: err.message })
  }
}
