/**
 * A volume that must be left untouched. Every reader throws this (never a bare
 * Error) when a structure is unknown, inconsistent or out of bounds; the planner
 * turns it into a `skip` decision with the message as the reason. Any other
 * exception escaping a reader is treated the same way, so a hostile image can
 * only ever cost us the trim of that volume.
 */
export class TrimSkip extends Error {
  constructor(reason: string) {
    super(reason)
    this.name = 'TrimSkip'
  }
}

/** Throws TrimSkip(reason) unless `cond` holds. */
export function need(cond: unknown, reason: string | (() => string)): asserts cond {
  if (!cond) throw new TrimSkip(typeof reason === 'string' ? reason : reason())
}

/** The message of anything thrown by a reader, as a report reason. */
export function reasonOf(e: unknown): string {
  if (e instanceof TrimSkip) return e.message
  const msg = e instanceof Error ? e.message : String(e)
  return `unreadable structure (${msg})`
}
