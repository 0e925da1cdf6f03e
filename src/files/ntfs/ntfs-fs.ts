// The NTFS reader of files/guest-fs: being written (#27). Until it lands it
// claims no volume, so ls/get say they cannot read NTFS yet.

import type { GuestFsOpener } from '../guest-fs.js'

export const openNtfsFs: GuestFsOpener = async () => ({ notMine: true })
