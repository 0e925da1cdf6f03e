import { ensure } from './ntfs-skip.js'

/**
 * NTFS multi-sector protection (update sequence array), used by MFT records,
 * index blocks and $LogFile pages: the last two bytes of every 512-byte stride
 * were replaced on disk by the update sequence number (USN) and saved in the
 * array. A stride whose tail is not the USN was written torn: skip. The strides
 * are 512 bytes whatever the sector size.
 */
const STRIDE = 512

/** Checks and applies the fixups of `buf` in place (the whole structure, e.g. one MFT record); `what` names it in the reason. */
export function applyFixups(buf: Buffer, what: string): void {
  const usaOffset = buf.readUInt16LE(0x04) // 0x04 update sequence array offset
  const usaCount = buf.readUInt16LE(0x06) // 0x06 entries: the USN, then one per stride
  const strides = buf.length / STRIDE
  ensure(Number.isInteger(strides) && usaCount === strides + 1, () => `${what}: update sequence count ${usaCount} does not fit its size ${buf.length}`)
  ensure(usaOffset % 2 === 0 && usaOffset >= 0x08 && usaOffset + 2 * usaCount <= STRIDE - 2, () => `${what}: update sequence array offset ${usaOffset} out of range`)
  const usn = buf.readUInt16LE(usaOffset)
  for (let i = 1; i < usaCount; i++) {
    const tail = i * STRIDE - 2
    ensure(buf.readUInt16LE(tail) === usn, () => `${what}: update sequence mismatch in sector ${i - 1} (torn or damaged write)`)
    buf.writeUInt16LE(buf.readUInt16LE(usaOffset + 2 * i), tail)
  }
}
