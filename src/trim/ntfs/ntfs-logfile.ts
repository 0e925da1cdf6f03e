import type { Attribute } from './ntfs-attribute.js'
import { applyFixups } from './ntfs-fixup.js'
import { NtfsSkip, ensure } from './ntfs-skip.js'
import type { NtfsVolume } from './ntfs-volume.js'

/**
 * Was the volume closed cleanly? NTFS logs metadata changes, $Bitmap updates
 * included, as redo records in $LogFile and replays them at mount: with an
 * unclean log the on-disk $Bitmap can be stale. $LogFile starts with two
 * restart pages (at 0 and at the system page size); the one with the larger
 * current LSN is in force. Its restart area says the volume is clean when no
 * log client is in use or the RESTART_VOLUME_IS_CLEAN flag is set. A log that
 * ntfs-3g (or mkntfs) emptied is all 0xFF.
 */
const NO_CLIENT = 0xffff
const RESTART_VOLUME_IS_CLEAN = 0x0002
/** The largest system page size we accept, and how far an emptied log must be all 0xFF. */
const MAX_PAGE = 65536

interface RestartPage {
  offset: number
  currentLsn: bigint
  clientInUse: number
  flags: number
}

const isRestartMagic = (page: Buffer) => ['RSTR', 'CHKD'].includes(page.toString('latin1', 0, 4))

/** Decodes the restart page at `offset` (`page` = its raw bytes); skip on a torn page. */
function readRestartPage(page: Buffer, offset: number): RestartPage {
  const what = `$LogFile restart page at ${offset}`
  applyFixups(page, what)
  const raOffset = page.readUInt16LE(0x18) // 0x18 restart area offset
  const minor = page.readInt16LE(0x1a) // 0x1A log version, minor
  const major = page.readInt16LE(0x1c) // 0x1C log version, major
  // 1.1 up to Windows 7, 2.0 since Windows 8; the restart area fields used here are the same in both.
  ensure((major === 1 && minor === 1) || (major === 2 && minor === 0), `${what}: log version ${major}.${minor} not supported`)
  const usaEnd = page.readUInt16LE(0x04) + 2 * page.readUInt16LE(0x06)
  ensure(raOffset % 8 === 0 && raOffset >= usaEnd && raOffset + 0x10 <= page.length, `${what}: restart area offset ${raOffset} out of range`)
  const currentLsn = page.readBigUInt64LE(raOffset + 0x00) // +0x00 current LSN
  const clientInUse = page.readUInt16LE(raOffset + 0x0c) // +0x0C client in-use list head
  const flags = page.readUInt16LE(raOffset + 0x0e) // +0x0E restart flags
  return { offset, currentLsn, clientInUse, flags }
}

/** The state of $LogFile for the report; throws NtfsSkip unless the volume was closed cleanly. */
export async function checkLogFile(ntfs: NtfsVolume, log: Attribute): Promise<string> {
  const size = log.resident ? log.value.length : log.dataSize
  ensure(size >= 8192, `$LogFile is only ${size} bytes`)
  const first = await ntfs.readStream(log, 0, 4096)
  if (!isRestartMagic(first)) {
    // Emptied log: nothing to replay, provided no restart page hides further on.
    const span = Math.min(size, 2 * MAX_PAGE)
    const head = await ntfs.readStream(log, 0, span)
    ensure(
      head.every(b => b === 0xff),
      '$LogFile has no restart page and is not emptied (all 0xFF)',
    )
    return 'empty (all 0xFF)'
  }
  const pageSize = first.readUInt32LE(0x10) // 0x10 system page size
  ensure(pageSize >= 512 && pageSize <= MAX_PAGE && (pageSize & (pageSize - 1)) === 0 && 2 * pageSize <= size, `$LogFile system page size ${pageSize} invalid`)
  const pages: RestartPage[] = []
  for (const offset of [0, pageSize]) {
    const raw = await ntfs.readStream(log, offset, pageSize)
    if (offset > 0 && !isRestartMagic(raw)) continue
    pages.push(readRestartPage(raw, offset))
  }
  const current = pages.reduce((a, b) => (b.currentLsn > a.currentLsn ? b : a))
  const state = `restart page at ${current.offset}: LSN ${current.currentLsn}, client in use 0x${current.clientInUse.toString(16)}, flags 0x${current.flags.toString(16)}`
  if (current.clientInUse !== NO_CLIENT && (current.flags & RESTART_VOLUME_IS_CLEAN) === 0) {
    throw new NtfsSkip(`$LogFile not clean (${state}): volume in use, unclean shutdown or fast startup`)
  }
  return state
}
