// A bitset over a range whose size comes from the archive header. Pages are
// allocated when first touched, so memory follows what the archive really
// contains, not what its header claims (a hostile header can claim 254
// devices of 256 TiB each).

// 512-byte pages: a hostile archive that names one cluster per page costs us
// 64 bytes per 8-byte blockinfo entry at most.
const PAGE_BITS = 1 << 12

export class SparseBitset {
  private readonly pages = new Map<number, Uint8Array>()
  count = 0
  private lastKey = -1
  private last: Uint8Array | undefined

  constructor(readonly size: number) {}

  has(i: number): boolean {
    const p = this.pages.get(Math.floor(i / PAGE_BITS))
    if (!p) return false
    const o = i % PAGE_BITS
    return (p[o >>> 3]! & (1 << (o & 7))) !== 0
  }

  /** Sets bit i; returns false if it was already set. */
  set(i: number): boolean {
    const key = Math.floor(i / PAGE_BITS)
    // Bits come mostly in order: the page used last skips the Map.
    let p = key === this.lastKey ? this.last : this.pages.get(key)
    if (!p) {
      p = new Uint8Array(PAGE_BITS / 8)
      this.pages.set(key, p)
    }
    this.lastKey = key
    this.last = p
    const o = i % PAGE_BITS
    const bit = 1 << (o & 7)
    if (p[o >>> 3]! & bit) return false
    p[o >>> 3] = p[o >>> 3]! | bit
    this.count++
    return true
  }

  /** The lowest index below `size` whose bit is clear, or -1. */
  firstClear(): number {
    for (let base = 0; base < this.size; base += PAGE_BITS) {
      const p = this.pages.get(base / PAGE_BITS)
      if (!p) return base
      const end = Math.min(PAGE_BITS, this.size - base)
      for (let o = 0; o < end; o++) if (!(p[o >>> 3]! & (1 << (o & 7)))) return base + o
    }
    return -1
  }
}
