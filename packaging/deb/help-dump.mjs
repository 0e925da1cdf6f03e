// Run by man-page.mjs in a child node: prints, as JSON, the --help text of
// vma-opt and of every command and subcommand it lists, depth first, all from
// one process (a node start per command made the manual pages take half a
// minute on a busy machine). 70 columns: with man's indent of 7 the page
// still fits an 80-column terminal.
//
//   node help-dump.mjs ROOT

import { Writable } from 'node:stream'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const root = process.argv[2]
Object.defineProperty(process.stdout, 'columns', { value: 70 })
const { runCli } = await import(pathToFileURL(join(root, 'dist', 'src', 'cli', 'main.js')).href)

async function help(args) {
  let out = ''
  let err = ''
  const sink = add => new Writable({ write: (c, _e, cb) => (add(String(c)), cb()) })
  const status = await runCli([...args, '--help'], { stdout: sink(c => (out += c)), stderr: sink(c => (err += c)) })
  if (status !== 0) throw new Error(`vma-opt ${args.join(' ')} --help failed: ${err}`)
  return out.replace(/\n+$/, '')
}

/** The commands a help text lists under "Commands:", as argument paths (["hook", "install"]). */
function listedCommands(text) {
  const lines = text.split('\n')
  const at = lines.indexOf('Commands:')
  if (at < 0) return []
  const out = []
  for (const l of lines.slice(at + 1)) {
    if (l.trim() === '') break
    const m = /^ {2}vma-opt (.*?)(?: {2,}|$)/.exec(l)
    if (m) out.push(m[1].split(' ').filter(w => !/^[<[]/.test(w)))
  }
  return out
}

async function walk(path, out) {
  for (const cmd of listedCommands(out.get(path.join(' ')))) {
    out.set(cmd.join(' '), await help(cmd))
    await walk(cmd, out)
  }
}

const texts = new Map([['', await help([])]])
await walk([], texts)
process.stdout.write(JSON.stringify([...texts].map(([k, text]) => ({ path: k ? k.split(' ') : [], text }))))
