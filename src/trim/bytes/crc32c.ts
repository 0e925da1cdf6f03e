/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) as the raw update
 * function ext4 and jbd2 use: no initial or final inversion. The conventional
 * CRC-32C of data is `~crc32cRaw(0xFFFFFFFF, data)`.
 */
const TABLE = (() => {
  const t = new Uint32Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    t[i] = c >>> 0
  }
  return t
})()

export function crc32cRaw(crc: number, data: Uint8Array, start = 0, end = data.length): number {
  let c = crc >>> 0
  for (let i = start; i < end; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)
  return c >>> 0
}

/** crc32cRaw over the 4 little-endian bytes of `v` (ext4 mixes group numbers in this way). */
export function crc32cRawLe32(crc: number, v: number): number {
  const b = new Uint8Array([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff])
  return crc32cRaw(crc, b)
}
