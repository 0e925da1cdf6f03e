import type { FilesystemReader } from '../volume.js'
import { SWAP_PAGE_SIZES, HIBERNATION_MAGICS } from '../signatures.js'
import { newAllocationMap, setUsed } from '../allocation-map.js'
import { readAt } from '../layout.js'

// Linux swap header = page 0 (PAGE_SIZE of the guest: 4, 8, 16 or 64 KiB):
//   1024 u32 version (1)   1028 u32 last_page   1032 u32 nr_badpages   1036 uuid[16]   1052 label[16]
//   PAGE_SIZE-10  "SWAPSPACE2" (hibernation overwrites it with S1SUSPEND etc.)
// Pages 1..last_page only hold pages of the kernel that ran at backup time: free.
// Page 0 (UUID, label) is kept, and nothing past last_page is touched.

export const readSwap: FilesystemReader = async vol => {
  for (const ps of SWAP_PAGE_SIZES) {
    if (vol.size < 2 * ps) continue
    const magic = (await readAt(vol, ps - 10, 10)).toString('latin1')
    const hib = HIBERNATION_MAGICS.find(h => magic.startsWith(h))
    if (hib) return { decision: 'skip', kind: 'swap', reason: `swap holds a hibernation image (${hib})` }
    if (magic === 'SWAP-SPACE') return { decision: 'skip', kind: 'swap', reason: 'old v0 swap header (SWAP-SPACE) not handled' }
    if (magic !== 'SWAPSPACE2') continue
    const hdr = await readAt(vol, 0, ps)
    const version = hdr.readUInt32LE(1024)
    const lastPage = hdr.readUInt32LE(1028)
    const badPages = hdr.readUInt32LE(1032)
    const label = hdr.toString('latin1', 1052, 1068).replace(/\0.*$/s, '') || undefined
    const base = { kind: 'swap', ...(label ? { label } : {}) }
    if (version !== 1) return { decision: 'skip', ...base, reason: `swap header version ${version} (other byte order?)` }
    if (lastPage < 1 || (lastPage + 1) * ps > vol.size) {
      return { decision: 'skip', ...base, reason: `swap last_page ${lastPage} does not fit the ${vol.size}-byte area` }
    }
    if (badPages > (ps - 1024 - 512) / 4) return { decision: 'skip', ...base, reason: `swap nr_badpages ${badPages} too large` }
    const map = newAllocationMap(ps, 0, lastPage + 1)
    setUsed(map, 0)
    return {
      decision: 'trim',
      ...base,
      map,
      freeBytes: lastPage * ps,
      details: { pageSize: ps, lastPage, uuid: hdr.toString('hex', 1036, 1052) },
    }
  }
  return undefined
}
