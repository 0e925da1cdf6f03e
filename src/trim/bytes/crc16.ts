/**
 * CRC-16 (ANSI/IBM, reflected polynomial 0x8005 = table value 0xA001) as the raw
 * update ext4 uses for gdt_csum descriptor checksums: the caller starts at
 * 0xFFFF and there is no final XOR.
 */
const TABLE = (() => {
  const t = new Uint16Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1
    t[i] = c
  }
  return t
})()

export function crc16Raw(crc: number, data: Uint8Array, start = 0, end = data.length): number {
  let c = crc & 0xffff
  for (let i = start; i < end; i++) c = (TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)) & 0xffff
  return c
}
