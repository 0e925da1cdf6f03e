// A dump directory at a glance (`vma-opt backups DIR`): per VM, every backup
// newest first, full or reverse delta, its size, whether vzdump may prune it,
// and what restoring it takes; a delta whose chain is cut is flagged. Only
// headers are read (delta/backup-chains), so it is quick on any directory.

import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { ARCHIVE, DELTA, readGuestChains } from './backup-chains.js'

export interface ListedBackup {
  file: string
  /** The time in vzdump's name, as ISO 8601 (the host's local time, as vzdump writes it). */
  date: string
  kind: 'full' | 'delta'
  size: number
  /** Who keeps vzdump's prune off it: a person (or vzdump --protected), vma-opt's hook, or nobody. */
  protected: 'user' | 'vma-opt' | null
  /** ok: restorable; broken: a delta whose chain reaches no full archive; unreadable: its header cannot be read. */
  status: 'ok' | 'broken' | 'unreadable'
  /** What restoring it takes: the full archive, then the deltas in the order apply wants them (empty for a full archive). */
  needs: string[]
  /** Why it is broken or unreadable. */
  problem?: string
}

export interface ListedGuest {
  vmid: number
  backups: ListedBackup[]
}

const isoOf = (time: string): string => time.replace(/^(\d{4})_(\d\d)_(\d\d)-(\d\d)_(\d\d)_(\d\d)$/, '$1-$2-$3T$4:$5:$6')

export async function listBackups(dir: string): Promise<ListedGuest[]> {
  const vmids = new Set<string>()
  for (const name of readdirSync(dir)) {
    const m = ARCHIVE.exec(name) ?? DELTA.exec(name)
    if (m) vmids.add(m[1]!)
  }
  const out: ListedGuest[] = []
  for (const vmid of [...vmids].sort((a, b) => Number(a) - Number(b))) {
    const chains = await readGuestChains(dir, vmid)
    const isFull = new Set(chains.archives.map(a => a.name))
    const backups: ListedBackup[] = []
    for (const f of [...chains.archives, ...chains.deltas]) {
      const kind = isFull.has(f.name) ? 'full' : 'delta'
      const broken = chains.broken.find(b => b.delta === f.name)
      const needs: string[] = []
      if (kind === 'delta' && !broken) {
        for (let at: string | undefined = f.name; at !== undefined; at = isFull.has(at) ? undefined : chains.parentOf.get(at)) needs.unshift(at)
      }
      const status = f.unreadable ? 'unreadable' : broken ? 'broken' : 'ok'
      const problem = f.unreadable ?? (broken ? `needs ${broken.missing}, which is not in ${dir}` : undefined)
      backups.push({
        file: f.name,
        date: isoOf(f.time),
        kind,
        size: statSync(join(dir, f.name)).size,
        protected: f.protection ?? null,
        status,
        needs: kind === 'delta' ? needs : [],
        ...(problem ? { problem } : {}),
      })
    }
    backups.sort((a, b) => (a.date < b.date ? 1 : a.date > b.date ? -1 : 0))
    out.push({ vmid: Number(vmid), backups })
  }
  return out
}
