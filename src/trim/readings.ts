import type { Signature } from './signatures.js'

/** "ext superblock at 1024 and an MBR: ambiguous, skipped" */
export function ambiguityReason(sigs: Signature[]): string {
  const names = sigs.map(s => s.what)
  const list = names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]!}` : names.join('')
  return `${list}: ambiguous, skipped`
}
