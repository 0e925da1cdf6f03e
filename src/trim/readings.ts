import { TABLE_KINDS, type Signature } from './signatures.js'

/** "ext superblock at 1024 and an MBR: ambiguous, skipped" (partition tables named last). */
export function ambiguityReason(sigs: Signature[]): string {
  const names = [...sigs.filter(s => !TABLE_KINDS.includes(s.kind)), ...sigs.filter(s => TABLE_KINDS.includes(s.kind))].map(s => s.what)
  const list = names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]!}` : names.join('')
  return `${list}: ambiguous, skipped`
}
