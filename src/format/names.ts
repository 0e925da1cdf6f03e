// Names in an archive become file names (configs, disk-<name>.raw) and fields
// in line-oriented output that qmrestore parses. Proxmox uses them unchecked;
// we refuse anything that could not be used safely as a plain file name.

/** Why `name` is not a safe plain file name, or undefined when it is. */
export function unsafeNameReason(name: string): string | undefined {
  if (name.length === 0) return 'empty name'
  if (name === '.' || name === '..') return `name ${JSON.stringify(name)} is a directory reference`
  if (name.includes('/')) return `name ${JSON.stringify(name)} contains '/'`
  if (name.includes('\0')) return `name ${JSON.stringify(name)} contains a NUL byte`
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) return `name ${JSON.stringify(name)} contains a control character`
  if (name.includes('\uFFFD')) return `name ${JSON.stringify(name)} is not valid UTF-8`
  return undefined
}

/** qmrestore splits `vma list` lines on white space, so device names must have none. */
export function deviceNameWarning(name: string): string | undefined {
  if (/\s/.test(name)) return `device name ${JSON.stringify(name)} contains white space, which qmrestore cannot parse`
  if (name === 'vmstate') return 'device "vmstate" is a legacy RAM-state stream'
  return undefined
}
