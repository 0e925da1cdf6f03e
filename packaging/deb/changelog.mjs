// Reads the newest entry of packaging/deb/changelog (Debian format): its
// version must be package.json's, and its trailer gives the package's
// Maintainer and the date every file in the package carries.

export function newestEntry(text) {
  const head = /^vma-opt \(([^)]+)\) [^;]+; urgency=\w+$/m.exec(text)
  const trailer = /^ -- (.+ <[^>]+>) {2}(.+)$/m.exec(text)
  if (!head || !trailer || trailer.index < head.index) throw new Error('packaging/deb/changelog: no entry in Debian changelog format')
  const epoch = Math.floor(Date.parse(trailer[2]) / 1000)
  if (!Number.isFinite(epoch)) throw new Error(`packaging/deb/changelog: bad date ${trailer[2]}`)
  return { version: head[1], maintainer: trailer[1], epoch }
}
