/**
 * The one way the NTFS reader says "I have a doubt": every parser below throws
 * NtfsSkip with a reason the report can show, and readNtfs turns it into a
 * `skip` verdict. Nothing else is caught, so an I/O error of the archive is
 * still an error and not a silent skip.
 */
export class NtfsSkip extends Error {
  constructor(readonly reason: string) {
    super(reason)
    this.name = 'NtfsSkip'
  }
}

/** Throws NtfsSkip(reason) unless `ok`. */
export function ensure(ok: boolean, reason: string | (() => string)): asserts ok {
  if (!ok) throw new NtfsSkip(typeof reason === 'string' ? reason : reason())
}
