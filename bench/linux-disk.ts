// The Linux guest disk of the trim benchmarks lives with the samples (the demo builds it too).
export { buildLinuxDisk, evolve, fileContent, fillGarbage, garbageDisk, type LinuxDisk } from '../src/sample/linux-disk.js'
