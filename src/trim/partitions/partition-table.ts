/** What a partition-table parser (mbr.ts, gpt.ts) found on one disk. */
export interface PartitionEntry {
  /** 'p1'..'p4' primary/GPT entries, 'p5'.. logical partitions. */
  id: string
  /** Byte range on the disk. */
  start: number
  size: number
  /** '0x83' for MBR types, the type GUID (upper case) for GPT. */
  type: string
  name?: string
}

export interface ContainerEntry {
  id: string
  kind: string
  start: number
  size: number
  reason: string
}

export interface PartitionTable {
  table: 'gpt' | 'mbr'
  partitions: PartitionEntry[]
  /** Extended partitions: not volumes themselves, their EBRs must stay untouched. */
  containers: ContainerEntry[]
  /** Entries that exist but may not be trimmed (outside the usable area, broken link...). */
  rejected: { id: string; start: number; size: number; type: string; reason: string }[]
  /** Byte ranges of the table structures themselves (MBR, EBRs, GPT headers and arrays). */
  protected: [number, number][]
  notes: string[]
}
