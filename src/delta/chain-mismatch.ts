// What it means when a chain's result does not have the digests its newest
// delta recorded. BASE's own digests were proven against the first delta's
// record when the chain was opened, and every cluster taken from a DLT2
// delta passed its check before it was used: with only such deltas, the
// inputs are sound and the fault is vma-opt's own (VMA_DIGEST_MISMATCH,
// exit 4). A DLT1 delta's clusters carry no check, so one of them may be
// damaged: that is damaged delta data (VMA_DELTA_DATA, exit 1).

import { VmaError } from '../util/errors.js'
import type { Chain } from './open-chain.js'

/** The deltas of the chain that carry no per-cluster checks (DLT1). */
export function uncheckedDeltas(chain: Chain): string[] {
  return chain.deltas.filter(d => !d.indexed.checks.checked).map(d => d.label)
}

/** `subject`: what failed ("the applied archive failed its read-back check"). */
export function chainMismatch(chain: Chain, what: string, subject: string): VmaError {
  const old = uncheckedDeltas(chain)
  if (old.length === 0) {
    return new VmaError(
      'VMA_DIGEST_MISMATCH',
      -1,
      `internal error: ${subject}: ${what}; BASE matched its record and every delta cluster its check, so the chain is not damaged; nothing was written (please report this)`,
    )
  }
  return new VmaError(
    'VMA_DELTA_DATA',
    -1,
    `the chain does not reproduce its newest archive: ${what}; the data of ${old.join(', ')} (old format, without per-cluster checks) or of the base is damaged; nothing was written`,
  )
}
