import type { AllocationMap } from '../volume.js'
import { newAllocationMap } from '../allocation-map.js'
import { need } from '../skip.js'
import type { Chunk } from './btrfs-chunk.js'

/**
 * The device's allocation map for btrfs: one bit per sector, set = in use.
 * It starts all used and the reader clears only what it proves free, so a
 * range no structure speaks for stays untouched. Range updates work a byte
 * (8 sectors) at a time: a 16 TiB device is 2^32 bits.
 */
export class SpaceMap {
  readonly map: AllocationMap
  constructor(
    readonly sectorSize: number,
    deviceBytes: number,
  ) {
    this.map = newAllocationMap(sectorSize, 0, Math.floor(deviceBytes / sectorSize))
    this.map.used.fill(0xff)
  }

  private units(start: number, end: number): [number, number] {
    need(start % this.sectorSize === 0 && end % this.sectorSize === 0, `range ${start}..${end} not sector-aligned`)
    return [Math.max(0, start / this.sectorSize), Math.min(this.map.units, end / this.sectorSize)]
  }

  /** Marks device bytes [start, end) used (true) or free (false). */
  set(start: number, end: number, used: boolean): void {
    const [u0, u1] = this.units(start, end)
    const bm = this.map.used
    let u = u0
    for (; u < u1 && (u & 7) !== 0; u++) bit(bm, u, used)
    const full = (u1 - u) >>> 3
    if (full > 0) {
      bm.fill(used ? 0xff : 0, u >>> 3, (u >>> 3) + full)
      u += full * 8
    }
    for (; u < u1; u++) bit(bm, u, used)
  }

  /** Whether every sector of device bytes [start, end) is free. */
  allFree(start: number, end: number): boolean {
    const [u0, u1] = this.units(start, end)
    const bm = this.map.used
    let u = u0
    for (; u < u1 && (u & 7) !== 0; u++) if ((bm[u >>> 3]! >> (u & 7)) & 1) return false
    for (; u + 8 <= u1; u += 8) if (bm[u >>> 3] !== 0) return false
    for (; u < u1; u++) if ((bm[u >>> 3]! >> (u & 7)) & 1) return false
    return true
  }

  /** Logical bytes [a, b) of a chunk, on every copy (stripe) of it. */
  setLogical(c: Chunk, a: number, b: number, used: boolean): void {
    for (const s of c.stripes) this.set(s.offset + (a - c.logical), s.offset + (b - c.logical), used)
  }

  allFreeLogical(c: Chunk, a: number, b: number): boolean {
    return c.stripes.every(s => this.allFree(s.offset + (a - c.logical), s.offset + (b - c.logical)))
  }
}

function bit(bm: Uint8Array, u: number, used: boolean): void {
  if (used) bm[u >>> 3]! |= 1 << (u & 7)
  else bm[u >>> 3]! &= ~(1 << (u & 7))
}
