// Numbers for people: 1,820,160 and 1.7 MiB.

export function thousands(n: number): string {
  return n.toLocaleString('en-US')
}

export function humanBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let u = 0
  let v = n
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  if (u === 0) return `${n} bytes`
  return `${v >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`
}

export function bytesWithHuman(n: number): string {
  return n < 1024 ? `${thousands(n)} bytes` : `${thousands(n)} bytes (${humanBytes(n)})`
}
