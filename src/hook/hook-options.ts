// The hook's own options (--keep-uuid, --zstd-threads N, --tmpdir DIR,
// --strict, --trim and its --trim-journal/--trim-lvm-free, --reverse-deltas,
// --keep-deltas N, --share-blocks) in their three forms: the arguments a checkout's wrapper passes,
// the lines of the packaged options file (/etc/vma-opt/hook.conf, read
// through --options-file), and HookOptions. hook install writes them with
// hookOptionLines, the hook reads them with parseHookArgs: one vocabulary.

import { VmaError } from '../util/errors.js'
import { KEEP_DELTAS, parseInteger, ZSTD_THREADS } from '../util/integer.js'

export interface HookOptions {
  keepUuid?: boolean
  zstdThreads?: number
  tmpdir?: string
  /** Fail the backup on any error, not only a damaged archive. */
  strict?: boolean
  /** optimize --trim: zero what the guests' filesystems declare free. */
  trim?: boolean
  trimJournal?: 'strict' | 'union'
  trimLvmFree?: boolean
  /** Turn the previous backup of the guest into a reverse delta (reverse-deltas.ts). */
  reverseDeltas?: boolean
  keepDeltas?: number
  /** Optimize into the aligned form and share its blocks with the guest's previous backup (src/share/, docs/sharing.md). */
  shareBlocks?: boolean
  /** The hook vzdump ran before vma-opt's: the wrapper runs it too (wrapper-script). Node only carries it. */
  chain?: string
}

/** How long the hook waits for another vma-opt run on its files before it leaves them as they are. */
export const HOOK_LOCK_WAIT_MS = 30 * 60_000

/** First line of the options file: `hook uninstall` deletes only a file that starts with it. */
export const OPTIONS_HEADER = '# vma-opt hook options, written by `vma-opt hook install`: one a line, `--name` or `--name VALUE` (the rest of the line, as it is).'

/** Why --share-blocks and --reverse-deltas are refused together (and, met in a hand-edited hook.conf, which one the hook keeps). */
export const SHARE_OR_DELTAS = '--share-blocks and --reverse-deltas are alternatives for the same older backups (kept whole and sharing blocks, or turned into deltas): choose one'

/** The options as lines: "--keep-uuid", "--tmpdir /srv/spool  x". Refuses what a line cannot hold. */
export function hookOptionLines(o: HookOptions): string[] {
  if (o.shareBlocks && o.reverseDeltas) throw new VmaError('VMA_USAGE', -1, SHARE_OR_DELTAS)
  if (o.tmpdir !== undefined && (/[\n\r]/.test(o.tmpdir) || o.tmpdir === '')) throw new VmaError('VMA_USAGE', -1, `--tmpdir cannot be empty or hold a line break, got ${JSON.stringify(o.tmpdir)}`)
  if (o.zstdThreads !== undefined) parseInteger('--zstd-threads', String(o.zstdThreads), ZSTD_THREADS)
  if (o.keepDeltas !== undefined) parseInteger('--keep-deltas', String(o.keepDeltas), KEEP_DELTAS)
  if (o.trimJournal !== undefined) journalMode(o.trimJournal)
  if (o.chain !== undefined && (/[\n\r]/.test(o.chain) || !o.chain.startsWith('/')))
    throw new VmaError('VMA_USAGE', -1, `the hook to chain must be an absolute path on one line, got ${JSON.stringify(o.chain)}`)
  return [
    ...(o.keepUuid ? ['--keep-uuid'] : []),
    ...(o.zstdThreads !== undefined ? [`--zstd-threads ${o.zstdThreads}`] : []),
    ...(o.tmpdir !== undefined ? [`--tmpdir ${o.tmpdir}`] : []),
    ...(o.strict ? ['--strict'] : []),
    ...(o.trim ? ['--trim'] : []),
    ...(o.trimJournal !== undefined ? [`--trim-journal ${o.trimJournal}`] : []),
    ...(o.trimLvmFree ? ['--trim-lvm-free'] : []),
    ...(o.reverseDeltas ? ['--reverse-deltas'] : []),
    ...(o.keepDeltas !== undefined ? [`--keep-deltas ${o.keepDeltas}`] : []),
    ...(o.shareBlocks ? ['--share-blocks'] : []),
    ...(o.chain !== undefined ? [`--chain ${o.chain}`] : []),
  ]
}

function journalMode(v: string): 'strict' | 'union' {
  if (v !== 'strict' && v !== 'union') throw new VmaError('VMA_USAGE', -1, `--trim-journal takes strict or union, got ${JSON.stringify(v)}`)
  return v
}

/** The options as separate arguments, for a wrapper's command line. */
export function hookOptionArgs(o: HookOptions): string[] {
  return hookOptionLines(o).flatMap(splitLine)
}

function splitLine(line: string): string[] {
  const sp = line.indexOf(' ')
  return sp < 0 ? [line] : [line.slice(0, sp), line.slice(sp + 1)]
}

export function formatOptionsFile(o: HookOptions): string {
  return [OPTIONS_HEADER, ...hookOptionLines(o), ''].join('\n')
}

/** The options file as arguments: comments and blank lines skipped, each line split at its first space. */
export function optionsFileArgs(text: string): string[] {
  // A file edited on Windows (CRLF) or with stray blanks reads as meant; the wrapper's shell reads --chain the same way.
  return text
    .split('\n')
    .map(l => l.trim())
    .filter(l => l !== '' && !l.startsWith('#'))
    .flatMap(splitLine)
}

/** Parses hook options, then PHASE [MODE VMID]; `--options-file F` is kept for the caller to read. */
export function parseHookArgs(argv: string[]): { options: HookOptions & { optionsFile?: string }; phase?: string; mode?: string; vmid?: string } {
  const options: HookOptions & { optionsFile?: string } = {}
  const value = (i: number, name: string): string => {
    if (i >= argv.length) throw new VmaError('VMA_USAGE', -1, `hook option ${name} needs a value`)
    return argv[i]!
  }
  let i = 0
  for (; i < argv.length && argv[i]!.startsWith('--'); i++) {
    const a = argv[i]!
    if (a === '--keep-uuid') options.keepUuid = true
    else if (a === '--strict') options.strict = true
    else if (a === '--zstd-threads') options.zstdThreads = parseInteger(a, value(++i, a), ZSTD_THREADS)
    else if (a === '--tmpdir') options.tmpdir = value(++i, a)
    else if (a === '--options-file') options.optionsFile = value(++i, a)
    else if (a === '--trim') options.trim = true
    else if (a === '--trim-journal') options.trimJournal = journalMode(value(++i, a))
    else if (a === '--trim-lvm-free') options.trimLvmFree = true
    else if (a === '--reverse-deltas') options.reverseDeltas = true
    else if (a === '--keep-deltas') options.keepDeltas = parseInteger(a, value(++i, a), KEEP_DELTAS)
    else if (a === '--share-blocks') options.shareBlocks = true
    else if (a === '--chain') options.chain = value(++i, a)
    else throw new VmaError('VMA_USAGE', -1, `unknown hook option ${a}`)
  }
  const [phase, mode, vmid] = argv.slice(i)
  return { options, phase, mode, vmid }
}
