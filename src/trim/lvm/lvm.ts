import type { AllocationMap } from '../volume.js'
import type { PvInfo } from './lvm-label.js'
import { type LvmSection, type LvmValue, isSection } from './lvm-text.js'
import { type VolumeLayout, type Segment, linearLayout } from '../layout.js'
import { newAllocationMap, setUsed, isUsed } from '../allocation-map.js'
import { TrimSkip, need, reasonOf } from '../skip.js'

/** A PV found in a partition (or whole disk) of one of the disks. */
export interface FoundPv {
  disk: string
  /** Device offset of the PV's first byte, and its size. */
  devStart: number
  size: number
  /** Volume id of the PV's container (p3, disk). */
  containerId: string
  info: PvInfo
}

export interface LvPlan {
  id: string
  layout?: VolumeLayout
  /** Set when the LV must not be looked into. */
  reason?: string
}

export interface VgPlan {
  name: string
  reason?: string
  extentSize: number
  lvs: LvPlan[]
  /** Unallocated extents per present PV: map over the PV's own bytes (unit = extent). */
  free: { pv: FoundPv; map: AllocationMap; layout: VolumeLayout }[]
}

const num = (v: LvmValue | undefined, what: string): number => {
  if (typeof v !== 'number' || v < 0) throw new TrimSkip(`LVM metadata: ${what} missing or invalid`)
  return v
}

/** Groups PVs by VG and maps every LV that may be trimmed. Never throws. */
export function assembleVgs(pvs: FoundPv[]): VgPlan[] {
  const byVg = new Map<string, FoundPv[]>()
  for (const pv of pvs) byVg.set(pv.info.vgName, [...(byVg.get(pv.info.vgName) ?? []), pv])
  const out: VgPlan[] = []
  for (const [name, members] of byVg) {
    try {
      out.push(assembleVg(name, members))
    } catch (e) {
      out.push({ name, reason: reasonOf(e), extentSize: 0, lvs: [], free: [] })
    }
  }
  return out
}

interface PvSlot {
  pv: FoundPv
  peStart: number
  peCount: number
  alloc: AllocationMap
}

function assembleVg(name: string, members: FoundPv[]): VgPlan {
  const seqnos = new Set(members.map(m => m.info.seqno))
  need(seqnos.size === 1, `PVs of VG ${name} carry different metadata seqno ${[...seqnos].join(', ')}`)
  const uuids = new Set(members.map(m => m.info.uuid))
  need(uuids.size === members.length, `a PV UUID of VG ${name} appears twice`)
  const vg = members[0]!.info.vg
  need(
    members.every(m => JSON.stringify(m.info.vg) === JSON.stringify(vg)),
    `PVs of VG ${name} carry different metadata`,
  )
  const extentSize = num(vg.extent_size, 'extent_size') * 512
  need(extentSize >= 4096 && extentSize % 4096 === 0, `extent size ${extentSize} invalid`)
  const pvDefs = isSection(vg.physical_volumes) ? vg.physical_volumes : {}
  const slots = new Map<string, PvSlot>()
  for (const [pname, def] of Object.entries(pvDefs)) {
    if (!isSection(def) || typeof def.id !== 'string') throw new TrimSkip(`LVM metadata: PV ${pname} malformed`)
    const uuid = def.id.replace(/-/g, '')
    const pv = members.find(m => m.info.uuid === uuid)
    if (!pv) continue
    const peStart = num(def.pe_start, 'pe_start') * 512
    const peCount = num(def.pe_count, 'pe_count')
    need(peStart >= 4096 && peStart + peCount * extentSize <= pv.size, `PV ${pname}: extents past the end of its partition`)
    need(
      pv.info.mdas.every(([o, n]) => o + n <= peStart || o >= peStart + peCount * extentSize),
      `PV ${pname}: metadata area inside the extents`,
    )
    slots.set(pname, { pv, peStart, peCount, alloc: newAllocationMap(extentSize, peStart, peCount) })
  }
  const lvDefs = isSection(vg.logical_volumes) ? vg.logical_volumes : {}
  onlyPlainMappings(name, lvDefs)
  const referenced = referencedLvs(lvDefs)
  markAllocations(lvDefs, slots)
  const lvs: LvPlan[] = []
  for (const [lvName, lv] of Object.entries(lvDefs)) {
    if (!isSection(lv)) continue
    const id = `${name}/${lvName}`
    try {
      lvs.push({ id, layout: lvLayout(id, lv, lvName, referenced, slots, extentSize) })
    } catch (e) {
      lvs.push({ id, reason: reasonOf(e) })
    }
  }
  const free = [...slots.values()].map(s => ({
    pv: s.pv,
    map: s.alloc,
    layout: linearLayout(`${name}/<free>`, s.pv.disk, s.pv.devStart, s.pv.size),
  }))
  return { name, extentSize, lvs, free }
}

/** Segment types whose extents are exactly their `stripes` areas (lvm2 writes a linear LV as "striped" with one stripe). */
const PLAIN_TYPES = new Set(['striped', 'linear'])

/**
 * Any other segment type (mirror, pvmove, raid*, thin*, cache*, snapshot,
 * vdo...) maps extents through areas we do not model, and a LOCKED or PVMOVE
 * LV is being moved (its data lives on the hidden pvmove mirror, its own
 * segments name the mirror, not extents): either way which extents are in use
 * is not known, so nothing of the VG is trimmed, not even its free extents.
 */
function onlyPlainMappings(vgName: string, lvDefs: LvmSection): void {
  for (const [lvName, lv] of Object.entries(lvDefs)) {
    if (!isSection(lv)) continue
    const status = [lv.status, lv.flags].flatMap(v => (Array.isArray(v) ? v.map(String) : []))
    const moving = status.find(f => f === 'LOCKED' || f === 'PVMOVE')
    need(!moving, `LV ${lvName} is ${moving} (an interrupted pvmove?): VG ${vgName} left untouched`)
    for (const seg of segmentsOf(lv)) {
      need(typeof seg.type === 'string' && PLAIN_TYPES.has(seg.type), `LV ${lvName} has a ${String(seg.type)} segment: VG ${vgName} left untouched (only linear and striped LVs are mapped)`)
    }
  }
}

function segmentsOf(lv: LvmSection): LvmSection[] {
  return Object.entries(lv)
    .filter(([k, v]) => /^segment\d+$/.test(k) && isSection(v))
    .map(([, v]) => v as LvmSection)
}

/** Keys whose values are never LV names (a segment type "striped" is not a reference to an LV called striped). */
const NOT_REFERENCES = new Set([
  'type',
  'id',
  'status',
  'flags',
  'tags',
  'creation_host',
  'creation_time',
  'allocation_policy',
  'read_ahead',
  'segment_count',
  'start_extent',
  'extent_count',
  'stripe_count',
  'stripe_size',
])

/** LV names mentioned by other LVs (pools, origins, cow stores, raid/mirror legs...): any other key counts. */
function referencedLvs(lvDefs: LvmSection): Set<string> {
  const names = new Set(Object.keys(lvDefs))
  const refs = new Set<string>()
  const visit = (v: LvmValue, self: string): void => {
    if (typeof v === 'string' && names.has(v) && v !== self) refs.add(v)
    else if (Array.isArray(v)) v.forEach(x => visit(x, self))
  }
  for (const [name, lv] of Object.entries(lvDefs)) {
    if (!isSection(lv)) continue
    for (const seg of segmentsOf(lv)) for (const [k, v] of Object.entries(seg)) if (!NOT_REFERENCES.has(k)) visit(v, name)
    for (const [k, v] of Object.entries(lv)) if (!/^segment\d+$/.test(k) && !NOT_REFERENCES.has(k)) visit(v, name)
  }
  return refs
}

/** Marks every extent any LV (hidden ones too) uses; an extent used twice makes the VG untrustworthy. */
function markAllocations(lvDefs: LvmSection, slots: Map<string, PvSlot>): void {
  for (const lv of Object.values(lvDefs)) {
    if (!isSection(lv)) continue
    for (const seg of segmentsOf(lv)) {
      const stripes = seg.stripes
      if (!Array.isArray(stripes)) continue
      const n = Math.max(1, typeof seg.stripe_count === 'number' ? seg.stripe_count : 1)
      const per = Math.ceil(num(seg.extent_count, 'extent_count') / n)
      for (let i = 0; i + 1 < stripes.length; i += 2) {
        const slot = slots.get(String(stripes[i]))
        if (!slot) continue
        const firstPe = num(stripes[i + 1], 'stripe start')
        need(firstPe + per <= slot.peCount, `a segment uses extents past the end of PV ${String(stripes[i])}`)
        for (let e = firstPe; e < firstPe + per; e++) {
          need(!isUsed(slot.alloc, e), `extent ${e} of PV ${String(stripes[i])} is allocated twice`)
          setUsed(slot.alloc, e)
        }
      }
    }
  }
}

function lvLayout(id: string, lv: LvmSection, lvName: string, referenced: Set<string>, slots: Map<string, PvSlot>, E: number): VolumeLayout {
  const status = Array.isArray(lv.status) ? lv.status.map(String) : []
  need(status.includes('VISIBLE'), 'hidden/internal LV')
  need(!referenced.has(lvName), 'LV is referenced by another LV (pool, origin, cow store, raid or mirror leg)')
  need(!status.includes('PVMOVE') && !status.includes('LOCKED'), 'LV under pvmove/locked')
  const segs = segmentsOf(lv).sort((a, b) => num(a.start_extent, 'start_extent') - num(b.start_extent, 'start_extent'))
  need(segs.length > 0, 'LV without segments')
  const out: Segment[] = []
  let next = 0
  for (const seg of segs) {
    need(typeof seg.type === 'string' && PLAIN_TYPES.has(seg.type), `segment type ${String(seg.type)}`)
    const start = num(seg.start_extent, 'start_extent')
    const count = num(seg.extent_count, 'extent_count')
    need(start === next && count > 0, 'LV segments leave a gap or overlap')
    next = start + count
    const stripes = Array.isArray(seg.stripes) ? seg.stripes : []
    const n = typeof seg.stripe_count === 'number' ? seg.stripe_count : 1
    need(n >= 1 && stripes.length === 2 * n && count % n === 0, 'striped segment malformed')
    const chunk = n === 1 ? count * E : num(seg.stripe_size, 'stripe_size') * 512
    need(chunk > 0 && ((count / n) * E) % chunk === 0, 'stripe size does not divide the segment')
    const legs = []
    for (let i = 0; i < n; i++) {
      const slot = slots.get(String(stripes[2 * i]))
      need(slot, `segment on PV ${String(stripes[2 * i])} which is not in this archive`)
      legs.push({ disk: slot.pv.disk, devStart: slot.pv.devStart + slot.peStart + num(stripes[2 * i + 1], 'stripe start') * E })
    }
    out.push({ volStart: start * E, length: count * E, chunk, legs })
  }
  return { id, size: next * E, segments: out }
}
