import type { AllocationMap } from './volume.js'
import { TrimSkip } from './skip.js'

/** Largest allocation map we build: 1 bit per unit, 512 MiB of bits = 2^32 units. */
const MAX_UNITS = 2 ** 32

/** A map with every unit free (bits clear); the caller sets what is used. */
export function newAllocationMap(unit: number, first: number, units: number): AllocationMap {
  if (!Number.isSafeInteger(units) || units < 0 || units > MAX_UNITS) throw new TrimSkip(`allocation map of ${units} units refused`)
  if (!(unit > 0) || !Number.isSafeInteger(unit) || first < 0) throw new TrimSkip(`bad allocation unit ${unit}`)
  return { unit, first, units, used: new Uint8Array(Math.ceil(units / 8)) }
}

export function setUsed(map: AllocationMap, i: number): void {
  if (i >= 0 && i < map.units) map.used[i >>> 3]! |= 1 << (i & 7)
}

export function isUsed(map: AllocationMap, i: number): boolean {
  if (i < 0 || i >= map.units) return true
  return ((map.used[i >>> 3]! >> (i & 7)) & 1) === 1
}

/** Number of clear bits (free units) among the first `map.units`. */
export function countFreeUnits(map: AllocationMap): number {
  let used = 0
  const full = map.units >>> 3
  for (let i = 0; i < full; i++) used += POPCOUNT[map.used[i]!]!
  for (let i = full * 8; i < map.units; i++) used += isUsed(map, i) ? 1 : 0
  return map.units - used
}

export const POPCOUNT = (() => {
  const t = new Uint8Array(256)
  for (let i = 1; i < 256; i++) t[i] = (i & 1) + t[i >> 1]!
  return t
})()

/** The volume byte where the map's declared space ends. */
export function mapEnd(map: AllocationMap): number {
  return map.first + map.units * map.unit
}

/**
 * Free byte runs [start, end) of volume range [v0, v1), in increasing order:
 * whole free units clipped to the range. Skips fully used bytes of the bitmap
 * eight units at a time.
 */
export function* freeRunsIn(map: AllocationMap, v0: number, v1: number): Generator<[number, number]> {
  const lo = Math.max(v0, map.first)
  const hi = Math.min(v1, mapEnd(map))
  if (lo >= hi) return
  let u = Math.floor((lo - map.first) / map.unit)
  const uEnd = Math.ceil((hi - map.first) / map.unit)
  let runStart = -1
  while (u < uEnd) {
    if ((u & 7) === 0 && u + 8 <= uEnd) {
      const byte = map.used[u >>> 3]!
      if (byte === 0xff) {
        if (runStart >= 0) {
          yield [Math.max(lo, map.first + runStart * map.unit), map.first + u * map.unit]
          runStart = -1
        }
        u += 8
        continue
      }
      if (byte === 0) {
        if (runStart < 0) runStart = u
        u += 8
        continue
      }
    }
    const used = ((map.used[u >>> 3]! >> (u & 7)) & 1) === 1
    if (used) {
      if (runStart >= 0) {
        yield [Math.max(lo, map.first + runStart * map.unit), map.first + u * map.unit]
        runStart = -1
      }
    } else if (runStart < 0) runStart = u
    u++
  }
  if (runStart >= 0) yield [Math.max(lo, map.first + runStart * map.unit), hi]
}
