// Runs one vma-opt command line in this process and writes its peak RSS (KiB)
// to the file named first, so benchmarks can report memory.
import { writeFileSync } from 'node:fs'
import { runCli } from '../src/cli/main.js'

const [rssFile, ...args] = process.argv.slice(2)
const code = await runCli(args)
writeFileSync(rssFile!, String(process.resourceUsage().maxRSS))
process.exitCode = code
