/**
 * The free-space trim engine, for optimize --trim, info --free-space,
 * pack --trim and the hook: plan once over the devices, then zero what the
 * plan declares free while streaming clusters, then recheck the output.
 */
export { planTrim, VMSTATE_REASON, type TrimPlan, type TrimGuard } from './plan.js'
export type { TrimDisk } from './disk.js'
export type { ClusterZeroer } from './zeroer.js'
export type { TrimReport, DiskReport, VolumeReport, Decision } from './report.js'
export { summaryLine } from './report.js'
export type { GuardedRange } from './guard.js'
export type { TrimOptions, VolumeReader, AllocationMap, VolumeVerdict, FilesystemReader } from './volume.js'
export { registerFilesystemReader, unregisterFilesystemReader, readerFor } from './readers.js'
export { openFileDisk, type FileDisk } from './file-disk.js'
export { TrimSkip } from './skip.js'
