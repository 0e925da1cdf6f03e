/** Sorted, merged byte ranges as [offset, length] pairs. */
export type Range = [number, number]

/** Sorts and merges touching or overlapping ranges, in place where possible. */
export function mergeRanges(rs: Range[]): Range[] {
  rs.sort((a, b) => a[0] - b[0])
  const out: Range[] = []
  for (const [o, n] of rs) {
    if (n <= 0) continue
    const last = out[out.length - 1]
    if (last && o <= last[0] + last[1]) last[1] = Math.max(last[1], o + n - last[0])
    else out.push([o, n])
  }
  return out
}

/** `a` minus `b`; both sorted and merged; `b` is streamed (it may be long). */
export function subtractRanges(a: Range[], b: Iterable<Range>): Range[] {
  const out: Range[] = []
  const it = b[Symbol.iterator]()
  const next = (): Range | undefined => {
    const r = it.next()
    return r.done ? undefined : r.value
  }
  let cur = next()
  for (const [o, n] of a) {
    let s = o
    const e = o + n
    while (cur && cur[0] + cur[1] <= s) cur = next()
    while (cur && cur[0] < e) {
      if (cur[0] > s) out.push([s, cur[0] - s])
      s = Math.max(s, cur[0] + cur[1])
      if (cur[0] + cur[1] > e) break // may also cover the next range of `a`
      cur = next()
    }
    if (s < e) out.push([s, e - s])
  }
  return out
}

export function intersects(sorted: Range[], o: number, n: number): boolean {
  let lo = 0
  let hi = sorted.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const [so, sn] = sorted[mid]!
    if (so + sn <= o) lo = mid + 1
    else if (so >= o + n) hi = mid - 1
    else return true
  }
  return false
}
