// Arrays indexed by cluster number whose pages are allocated on first write,
// so a header that claims a huge device costs nothing until the archive
// really holds that many clusters.

const PAGE = 1 << 12 // 40 KiB of index per page (offset and mask)

type TypedArray = Float64Array | Uint16Array | Uint32Array

export class PagedArray<T extends TypedArray> {
  private readonly pages = new Map<number, T>()
  // The page used last: clusters come mostly in order, so most accesses skip the Map.
  private lastKey = -1
  private last: T | undefined

  constructor(private readonly make: (n: number) => T) {}

  private page(k: number): T | undefined {
    if (k !== this.lastKey) {
      const p = this.pages.get(k)
      if (!p) return undefined
      this.lastKey = k
      this.last = p
    }
    return this.last
  }

  get(i: number): number {
    const p = this.page(Math.floor(i / PAGE))
    return p ? p[i % PAGE]! : 0
  }

  set(i: number, v: number): void {
    const k = Math.floor(i / PAGE)
    let p = this.page(k)
    if (!p) {
      p = this.make(PAGE)
      this.pages.set(k, p)
      this.lastKey = k
      this.last = p
    }
    p[i % PAGE] = v
  }
}
