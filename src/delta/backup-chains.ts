// The reverse-delta chains of one guest in a dump directory, read from the
// files' headers alone (no data is read, so this runs every night):
// each delta records the identity of the archive it applies to (its base)
// and of the one it gives back (its target). A delta applies when its base
// is a full archive in the directory, or a delta that itself applies; it is
// broken when its base is nowhere (a person deleted it, or vzdump pruned it
// before vma-opt protected it). Matching is by ctime, configs and device
// names and sizes: the content digests are proven by apply and by the hook's
// own verify of every delta it writes, and two backups of one guest never
// share a creation time.
//
// A full archive that deltas apply to is a chain end: vzdump must not prune
// it, so the hook keeps a NAME.protected file beside it (pve-storage skips
// every backup that has one, and its keep-last counts only the others), as
// it does beside the newest backup, which the next night converts.
// The hook's own protection files say so on their first line; an empty one
// (what Proxmox writes when a person protects a backup) is never touched.

import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { readArchiveHeader } from '../check/inspect.js'
import { deltaIdentities, identityOf } from '../archive/archive-identity.js'
import { isoTime } from '../format/ctime.js'
import type { ArchiveIdentity } from '../format/delta-identity.js'

/** vzdump's names for VM backups: vzdump-qemu-VMID-YYYY_MM_DD-hh_mm_ss.vma[.zst|.gz|.lzo]. */
export const ARCHIVE = /^vzdump-qemu-(\d+)-(\d{4}_\d\d_\d\d-\d\d_\d\d_\d\d)\.vma(\.(zst|gz|lzo))?$/
export const DELTA = /^vzdump-qemu-(\d+)-(\d{4}_\d\d_\d\d-\d\d_\d\d_\d\d)\.vma-delta(\.(zst|gz|lzo))?$/

/** First line of a protection file the hook wrote (and may remove again). */
export const PROTECTION_MARK = 'vma-opt: kept for reverse deltas'

export interface BackupFile {
  name: string
  /** The time in the name, as text (sorts as time). */
  time: string
  /** Who keeps the file from being pruned: a person (or vzdump's --protected), the hook, nobody. */
  protection?: 'user' | 'vma-opt'
  /** The header's identity without digests (full archive) or the delta's target one; undefined if unreadable. */
  key?: string
  /** A delta's base, as a key. */
  baseKey?: string
  /** When the header cannot be read: why. */
  unreadable?: string
}

export interface GuestChains {
  dir: string
  /** Full archives and deltas of the guest, newest first. */
  archives: BackupFile[]
  deltas: BackupFile[]
  /** For each delta that applies: the full archive its chain ends on. */
  rootOf: Map<string, string>
  /** For each delta that applies: what it applies to directly (an archive or a delta). */
  parentOf: Map<string, string>
  /** Deltas whose chain reaches no full archive, with what is missing (or why the delta itself cannot be read). */
  broken: { delta: string; missing: string; unreadable?: boolean }[]
}

function keyOf(i: ArchiveIdentity): string {
  return JSON.stringify({ ctime: i.ctime, configs: i.configs, devices: i.devices.map(d => ({ name: d.name, size: d.size })) })
}

function describe(key: string): string {
  const { ctime } = JSON.parse(key) as { ctime: number }
  const iso = isoTime(ctime)
  return iso ? `the backup made ${iso.replace('T', ' ').replace('.000Z', ' UTC')}` : `the backup with ctime ${ctime}`
}

export function protectionOf(path: string): 'user' | 'vma-opt' | undefined {
  let text: string
  try {
    text = readFileSync(`${path}.protected`, 'utf8')
  } catch (e) {
    // A protection file we cannot read still protects (vzdump tests only that it exists).
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : 'user'
  }
  return text.startsWith(PROTECTION_MARK) ? 'vma-opt' : 'user'
}

function list(dir: string, vmid: string, re: RegExp): BackupFile[] {
  const out: BackupFile[] = []
  for (const name of readdirSync(dir)) {
    const m = re.exec(name)
    if (m && m[1] === vmid) out.push({ name, time: m[2]! })
  }
  return out.sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0))
}

/** Reads the guest's archives and deltas in `dir` and links them up. Never throws for a damaged file. */
export async function readGuestChains(dir: string, vmid: string): Promise<GuestChains> {
  const archives = list(dir, vmid, ARCHIVE)
  const deltas = list(dir, vmid, DELTA)
  for (const a of archives) {
    a.protection = protectionOf(join(dir, a.name))
    try {
      a.key = keyOf(identityOf(await readArchiveHeader(join(dir, a.name)), []))
    } catch (e) {
      a.unreadable = (e as Error).message
    }
  }
  for (const d of deltas) {
    try {
      const ids = deltaIdentities(await readArchiveHeader(join(dir, d.name)), d.name)
      d.key = keyOf(ids.target)
      d.baseKey = keyOf(ids.base)
    } catch (e) {
      d.unreadable = (e as Error).message
    }
  }
  // A full archive is preferred as the base: the shorter chain.
  const byKey = new Map<string, string>()
  for (const x of [...deltas, ...archives]) if (x.key) byKey.set(x.key, x.name)
  const isArchive = new Set(archives.map(a => a.name))
  const baseKeyOf = new Map(deltas.map(d => [d.name, d.baseKey]))
  const rootOf = new Map<string, string>()
  const parentOf = new Map<string, string>()
  const broken: GuestChains['broken'] = []
  for (const d of deltas) {
    if (d.unreadable) {
      broken.push({ delta: d.name, missing: d.unreadable, unreadable: true })
      continue
    }
    const parent = byKey.get(d.baseKey!)
    if (parent) parentOf.set(d.name, parent)
    // Follow the bases until a full archive, a missing one, or a loop.
    let at = d.name
    const seen = new Set<string>()
    for (;;) {
      seen.add(at)
      const base = baseKeyOf.get(at)
      const next = base === undefined ? undefined : byKey.get(base)
      if (next === undefined) {
        broken.push({ delta: d.name, missing: base === undefined ? `a readable header of ${at}` : describe(base) })
        break
      }
      if (isArchive.has(next)) {
        rootOf.set(d.name, next)
        break
      }
      if (seen.has(next)) {
        broken.push({ delta: d.name, missing: 'a full archive (its deltas apply to each other in a loop)' })
        break
      }
      at = next
    }
  }
  return { dir, archives, deltas, rootOf, parentOf, broken }
}
