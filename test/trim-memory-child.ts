// Child process of trim-memory.test.ts: plans one image and prints its peak RSS as JSON.
import { planTrim } from '../src/trim/plan.js'
import { openFileDisk } from '../src/trim/file-disk.js'

const disk = await openFileDisk(process.argv[2]!, 'd')
const before = process.resourceUsage().maxRSS * 1024
const started = Date.now()
const plan = await planTrim([disk], { journal: 'strict', lvmFree: false })
let ranges = 0
for (const _ of plan.freeRanges('d')) ranges++
const v = plan.report.disks[0]!.volumes[0]!
process.stdout.write(JSON.stringify({
  ms: Date.now() - started, rssBefore: before, rssPeak: process.resourceUsage().maxRSS * 1024,
  decision: v.decision, reason: v.reason, freeBytes: v.freeBytes, ranges, size: disk.size,
}) + '\n')
await disk.close()
