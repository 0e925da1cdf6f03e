// Where each distinct 4 KiB block of the archives to share with lies: an
// open-addressing hash table in typed arrays (18 bytes per slot, at least two
// slots per distinct block), with no object per block. It grows by doubling,
// so that its size follows the distinct blocks: a dump directory of daily
// backups of one VM holds few more than one backup's.

export class BlockTable {
  private lo: Int32Array
  private hi: Int32Array
  /** File index + 1; 0 marks an empty slot. */
  private file: Uint16Array
  private offset: Float64Array
  private mask: number
  private count = 0

  /** `blocks`: how many distinct blocks to expect (it grows past that if need be). */
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
    if (++this.count * 2 > this.mask + 1) this.grow()
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

  private grow(): void {
    const { lo, hi, file, offset } = this
    const cap = (this.mask + 1) * 2
    this.lo = new Int32Array(cap)
    this.hi = new Int32Array(cap)
    this.file = new Uint16Array(cap)
    this.offset = new Float64Array(cap)
    this.mask = cap - 1
    this.count = 0
    for (let i = 0; i < file.length; i++) if (file[i] !== 0) this.add(lo[i]!, hi[i]!, file[i]! - 1, offset[i]!)
  }
}
