import type { AllocationMap, TrimOptions, VolumeReader } from './volume.js'
import { findSignatures, TABLE_KINDS, type Signature, type SignatureKind } from './signatures.js'
import { ambiguityReason } from './readings.js'
import { readerFor, UNSUPPORTED, REFUSING } from './readers.js'
import { readPv, type PvInfo } from './lvm/lvm-label.js'
import { reasonOf } from './skip.js'

/** What the planner learnt about one volume. */
export interface Analysis {
  kind: string
  label?: string
  decision: 'trim' | 'skip' | 'container'
  reason?: string
  freeBytes: number
  details: Record<string, unknown>
  map?: AllocationMap
  pv?: PvInfo
}

const KIND_NAMES: Partial<Record<SignatureKind, string>> = {
  'lvm2-pv': 'lvm2-pv',
  'swap-hibernation': 'swap',
  'swap-v0': 'swap',
  'md-raid': 'md-raid',
}

const skip = (kind: string, reason: string, details: Record<string, unknown> = {}): Analysis => ({ kind, decision: 'skip', reason, freeBytes: 0, details })

/**
 * Probes a volume and hands it to the matching reader. Never throws: any
 * failure is a skip. `nested` is set for LVs (a PV inside an LV is not followed).
 */
export async function analyzeVolume(vol: VolumeReader, opts: TrimOptions, nested: boolean): Promise<Analysis> {
  let found: Signature[]
  try {
    found = await findSignatures(vol)
  } catch (e) {
    return skip('raw', reasonOf(e))
  }
  const sigs = found.map(s => s.kind)
  const details = { signatures: sigs }
  if (sigs.length === 0) return skip('raw', 'no recognised signature', details)
  const refusing = found.find(s => REFUSING.includes(s.kind))
  if (refusing) return skip(KIND_NAMES[refusing.kind] ?? refusing.kind, `${UNSUPPORTED[refusing.kind]!} (${refusing.what})`, details)
  if (sigs.length > 1) return skip('ambiguous', ambiguityReason(found), details)
  const kind = sigs[0]!
  const kindName = KIND_NAMES[kind] ?? kind
  if (TABLE_KINDS.includes(kind)) return skip(kindName, `${found[0]!.what}: a whole partitioned disk inside this volume, not followed`, details)
  if (kind === 'lvm2-pv') {
    if (nested) return skip(kindName, 'LVM PV inside an LV: not followed', details)
    try {
      const pv = await readPv(vol)
      return { kind: kindName, decision: 'container', reason: `LVM2 PV of VG ${pv.vgName} (label and metadata stay untouched)`, freeBytes: 0, details: { vg: pv.vgName, pvUuid: pv.uuid }, pv }
    } catch (e) {
      return skip(kindName, reasonOf(e), details)
    }
  }
  const reader = readerFor(kind)
  if (!reader) return skip(kindName, UNSUPPORTED[kind] ?? `${kind}: not supported`, details)
  try {
    const v = await reader(vol, opts)
    if (!v) return skip(kindName, `${kind} signature but the reader does not recognise the volume`, details)
    if (v.decision === 'skip') return { ...skip(v.kind, v.reason, { ...details, ...v.details }), ...(v.label ? { label: v.label } : {}) }
    const bad = mapProblem(v.map, vol.size)
    if (bad) return skip(v.kind, bad, details)
    return { kind: v.kind, ...(v.label ? { label: v.label } : {}), decision: 'trim', freeBytes: v.freeBytes, details: { ...details, ...v.details }, map: v.map }
  } catch (e) {
    return skip(kindName, reasonOf(e), details)
  }
}

/** A reader's map must stay inside the volume; otherwise it is not used. */
function mapProblem(m: AllocationMap, size: number): string | undefined {
  if (!(m.unit > 0) || m.first < 0 || m.units < 0 || !Number.isSafeInteger(m.first + m.units * m.unit)) return 'reader returned an invalid allocation map'
  if (m.first + m.units * m.unit > size) return 'reader declared space past the end of the volume'
  if (m.used.length < Math.ceil(m.units / 8)) return 'reader returned a short allocation bitmap'
  return undefined
}
