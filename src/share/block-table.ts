// Where each distinct 4 KiB block of the archives to share with lies: an
// open-addressing hash table in typed arrays, sized once from the files'
// sizes (18 bytes per slot, two slots per block: under 1% of the archives'
// size), with no object per block.

export class BlockTable {
  private readonly lo: Int32Array
  private readonly hi: Int32Array
  /** File index + 1; 0 marks an empty slot. */
  private readonly file: Uint16Array
  private readonly offset: Float64Array
  private readonly mask: number

  constructor(blocks: number) {
    let cap = 1024
    while (cap < blocks * 2) cap *= 2
    this.lo = new Int32Array(cap)
    this.hi = new Int32Array(cap)
    this.file = new Uint16Array(cap)
    this.offset = new Float64Array(cap)
    this.mask = cap - 1
  }

  /** Records where a block with this hash lies, unless one with the same hash is known already. */
  add(lo: number, hi: number, file: number, offset: number): void {
    let i = lo & this.mask
    while (this.file[i] !== 0) {
      if (this.lo[i] === lo && this.hi[i] === hi) return
      i = (i + 1) & this.mask
    }
    this.lo[i] = lo
    this.hi[i] = hi
    this.file[i] = file + 1
    this.offset[i] = offset
  }

  /** The slot of a block with this hash, or -1. */
  find(lo: number, hi: number): number {
    let i = lo & this.mask
    while (this.file[i] !== 0) {
      if (this.lo[i] === lo && this.hi[i] === hi) return i
      i = (i + 1) & this.mask
    }
    return -1
  }

  fileAt(slot: number): number {
    return this.file[slot]! - 1
  }

  offsetAt(slot: number): number {
    return this.offset[slot]!
  }
}
