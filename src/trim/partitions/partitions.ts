import type { PartitionEntry } from './partition-table.js'

/** Partition types that mean "never look inside" whatever the signature says. */
const REFUSED_TYPES: Record<string, string> = {
  '0xFD': 'Linux RAID partition type (md member)',
  '0x42': 'Windows dynamic disk (LDM) partition type',
  'A19D880F-05FC-4D3B-A006-743F0F84911E': 'Linux RAID partition type (md member)',
  '5808C8AA-7E8F-42E0-85D2-E1E90434CFB3': 'Windows LDM metadata partition (dynamic disk)',
  'AF9B60A0-1431-4F62-BC68-3311714A69AD': 'Windows LDM data partition (dynamic disk)',
  'E75CAF8F-F680-4CEE-AFA3-B001E56EFC2D': 'Windows Storage Spaces partition',
  'CA7D7CCB-63ED-4C53-861C-1742536059CC': 'LUKS partition type (encrypted)',
}

/**
 * Partitions that must be skipped before looking inside: past the disk end,
 * empty, overlapping another partition or table structure, or of a refused
 * type. Both partitions of an overlapping pair are skipped.
 */
export function partitionProblems(parts: PartitionEntry[], diskSize: number, protectedRanges: [number, number][]): Map<string, string> {
  const bad = new Map<string, string>()
  for (const p of parts) {
    if (p.size <= 0) bad.set(p.id, 'empty partition')
    else if (p.start + p.size > diskSize) bad.set(p.id, `extends past the end of the disk (${p.start + p.size} > ${diskSize})`)
    else if (REFUSED_TYPES[p.type]) bad.set(p.id, REFUSED_TYPES[p.type]!)
  }
  for (const a of parts) {
    for (const b of parts) {
      if (a === b) continue
      if (a.start < b.start + b.size && b.start < a.start + a.size) {
        if (!bad.has(a.id)) bad.set(a.id, `overlaps ${b.id}: both overlapping partitions are skipped`)
      }
    }
    for (const [s, n] of protectedRanges) {
      if (a.start < s + n && s < a.start + a.size && !bad.has(a.id)) {
        bad.set(a.id, `overlaps partition-table structures at ${s}`)
      }
    }
  }
  return bad
}
