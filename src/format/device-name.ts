// How people name a device: vzdump calls a disk `drive-scsi0`, people say
// `scsi0` (as in the VM's config and Proxmox's GUI). Every command that takes
// a device name accepts both; an exact name always wins.

import { VmaError } from '../util/errors.js'

const DRIVE_PREFIX = 'drive-'

/** The device named `asked`, exactly or without its `drive-` prefix. */
export function findDevice<T extends { name: string }>(list: readonly T[], asked: string): T | undefined {
  return list.find(d => d.name === asked) ?? list.find(d => d.name === DRIVE_PREFIX + asked)
}

/** The one error for a device name the archive does not have (exit 2), listing the names it has. */
export function noSuchDevice(asked: readonly string[], list: readonly { name: string }[]): VmaError {
  const names = list.map(d => d.name).join(', ') || 'none'
  return new VmaError('VMA_USAGE', -1, `no device named ${asked.map(n => JSON.stringify(n)).join(', ')} in the archive (it has: ${names})`)
}

/**
 * A UEFI variable store (efidisk) or TPM state (tpmstate) rather than a disk
 * people mean when they say "the VM's disk": a few hundred KiB to 4 MiB that
 * vzdump lists first on every UEFI VM.
 */
export function isStateDisk(name: string): boolean {
  return /^(drive-)?(efidisk|tpmstate)\d+$/.test(name)
}
