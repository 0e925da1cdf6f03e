/**
 * The free-space trim engine, for optimize --trim, info --free-space,
 * pack --trim and the hook: plan once over the devices, then zero what the
 * plan declares free while streaming clusters, then recheck the output.
 *
 *   const plan = await planTrim(disks, { journal: 'strict', lvmFree: false })
 *   const z = plan.zeroer('drive-scsi0')
 *   for each 64 KiB cluster at device offset off: z.apply(off, clusterBytes)   // then drop all-zero 4 KiB blocks
 *   const why = await plan.guarded.recheck(outputDisks)                      // undefined = proof passed
 *   plan.report  /  summaryLine(plan.report.disks[i])  /  plan.countNonZeroFree(name, read)
 *
 * `disks` are every device of the archive, `vmstate` included (then nothing is trimmed).
 */
export { planTrim, VMSTATE_REASON, type TrimPlan, type TrimGuard } from './plan.js'
export type { TrimDisk } from './disk/disk.js'
export type { ClusterZeroer } from './zeroer.js'
export type { TrimReport, DiskReport, VolumeReport, Decision } from './report.js'
export { summaryLine } from './report.js'
export type { GuardedRange } from './guard.js'
export type { TrimOptions, VolumeReader, AllocationMap, VolumeVerdict, FilesystemReader } from './volume.js'
export { registerFilesystemReader, unregisterFilesystemReader, readerFor } from './readers.js'
export { openFileDisk, type FileDisk } from './disk/file-disk.js'
export { TrimSkip } from './skip.js'
