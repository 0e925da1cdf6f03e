import type { AllocationMap } from './volume.js'
import type { Piece } from './layout.js'
import { freeRunsIn, mapEnd } from './allocation-map.js'
import type { Range } from './ranges.js'

/** A trimmed volume's piece on one disk, with the map that says what is free. */
export interface MappedPiece extends Piece {
  map: AllocationMap
}

/** Zeroes the declared-free bytes of device data as it streams past. */
export interface ClusterZeroer {
  /**
   * `buf` holds the device bytes starting at `deviceOffset`; every byte in it
   * that a trimmed volume declares free is set to zero. Returns the number of
   * bytes zeroed (whether or not they were zero before). Works for any order
   * of calls and allocates nothing.
   */
  apply(deviceOffset: number, buf: Buffer): number
}

/** Pieces must be sorted by devStart and must not overlap (the planner guarantees both). */
export function makeZeroer(pieces: MappedPiece[]): ClusterZeroer {
  return {
    apply(off: number, buf: Buffer): number {
      const end = off + buf.length
      let zeroed = 0
      for (let i = firstPieceEndingAfter(pieces, off); i < pieces.length && pieces[i]!.devStart < end; i++) {
        const p = pieces[i]!
        const a = Math.max(off, p.devStart)
        const b = Math.min(end, p.devStart + p.length)
        let x = a - p.devStart
        while (p.devStart + x < b) {
          const within = x % p.chunk
          const n = Math.min(p.chunk - within, b - (p.devStart + x))
          const v = p.volOffset + Math.floor(x / p.chunk) * p.stride + within
          zeroed += zeroFree(p.map, v, n, buf, p.devStart + x - off)
          x += n
        }
      }
      return zeroed
    },
  }
}

function firstPieceEndingAfter(pieces: MappedPiece[], off: number): number {
  let lo = 0
  let hi = pieces.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    const p = pieces[mid]!
    if (p.devStart + p.length <= off) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Zeroes buf[bo, bo+n), which holds volume bytes [v, v+n), where the map says free. */
function zeroFree(map: AllocationMap, v: number, n: number, buf: Buffer, bo: number): number {
  const lo = Math.max(v, map.first)
  const hi = Math.min(v + n, mapEnd(map))
  let zeroed = 0
  if (lo >= hi) return 0
  let u = Math.floor((lo - map.first) / map.unit)
  let pos = lo
  while (pos < hi) {
    const unitEnd = Math.min(hi, map.first + (u + 1) * map.unit)
    if (((map.used[u >>> 3]! >> (u & 7)) & 1) === 0) {
      buf.fill(0, bo + (pos - v), bo + (unitEnd - v))
      zeroed += unitEnd - pos
    }
    pos = unitEnd
    u++
  }
  return zeroed
}

/** Device-coordinate free runs of sorted pieces, merged where they touch. */
export function* freeDeviceRanges(pieces: MappedPiece[]): Generator<Range> {
  let pend: Range | undefined
  for (const p of pieces) {
    for (let x = 0; x < p.length; ) {
      const n = Math.min(p.chunk - (x % p.chunk), p.length - x)
      const v = p.volOffset + Math.floor(x / p.chunk) * p.stride + (x % p.chunk)
      for (const [s, e] of freeRunsIn(p.map, v, v + n)) {
        const d = p.devStart + x + (s - v)
        if (pend && pend[0] + pend[1] === d) pend[1] += e - s
        else {
          if (pend) yield pend
          pend = [d, e - s]
        }
      }
      x += n
    }
  }
  if (pend) yield pend
}
