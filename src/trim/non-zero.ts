/** Non-zero bytes in buf[s, e): native memchr finds the zeros, short zero runs are stepped over. */
export function nonZeroBytes(buf: Buffer, s = 0, e = buf.length): number {
  let nz = 0
  let pos = s
  while (pos < e) {
    const z = buf.indexOf(0, pos)
    if (z < 0 || z >= e) return nz + (e - pos)
    nz += z - pos
    pos = z
    while (pos < e && buf[pos] === 0) pos++
  }
  return nz
}
