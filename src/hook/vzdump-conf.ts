// The `script:` line of vzdump.conf, which names the hook vzdump runs.
// Edits keep everything else byte for byte, keep the file's mode and owner,
// and replace it atomically (writeFileAtomic). Before the first edit the
// user's file is copied to FILE.vma-opt-backup, and that copy is never
// overwritten: a second `hook install` (say with --force and another path)
// must not replace the user's original script: line with ours.

import { existsSync, readFileSync, realpathSync, statSync, unlinkSync } from 'node:fs'
import { fromSystemError } from '../util/errors.js'
import { writeFileAtomic, type FileOwnership } from '../util/write-file-atomic.js'

export interface ConfFile {
  path: string
  /** The text as read ('' when the file does not exist). */
  text: string
  exists: boolean
  ownership: FileOwnership
}

export interface ScriptLine {
  index: number
  /** The path after `script:`, trimmed. */
  value: string
  /** The whole line as written. */
  line: string
}

export const backupPath = (conf: string): string => `${conf}.vma-opt-backup`

export function readConf(given: string): ConfFile {
  try {
    if (!existsSync(given)) return { path: given, text: '', exists: false, ownership: { mode: 0o644 } }
    // A symlinked vzdump.conf is edited where it points: an atomic rename over
    // the link itself would turn it into a file vzdump does not read.
    const path = realpathSync(given)
    const st = statSync(path)
    return { path, text: readFileSync(path, 'utf8'), exists: true, ownership: { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid } }
  } catch (e) {
    throw fromSystemError(e, `cannot read ${given}`)
  }
}

/** The first `script:` line, as vzdump reads it (a key at the start of a line). */
export function findScriptLine(text: string): ScriptLine | undefined {
  const lines = text.split('\n')
  const index = lines.findIndex(l => /^\s*script\s*:/.test(l))
  if (index < 0) return undefined
  return { index, value: lines[index]!.replace(/^\s*script\s*:\s*/, '').trim(), line: lines[index]! }
}

/** `text` with its script line replaced by `line`, removed (null), or `line` appended when it had none. */
export function withScriptLine(text: string, line: string | null): string {
  const lines = text.split('\n')
  const at = findScriptLine(text)
  if (at) {
    if (line === null) lines.splice(at.index, 1)
    else lines[at.index] = line
    return lines.join('\n')
  }
  if (line === null) return text
  if (lines.length && lines[lines.length - 1] === '') lines.pop()
  return [...lines, line, ''].join('\n')
}

/** Writes `text` over the conf, first keeping the user's version as the backup if there is none yet. Returns the backup's path when it made one. */
export function writeConf(conf: ConfFile, text: string): string | undefined {
  let made: string | undefined
  const backup = backupPath(conf.path)
  if (conf.exists && !existsSync(backup)) {
    writeFileAtomic(backup, conf.text, conf.ownership)
    made = backup
  }
  writeFileAtomic(conf.path, text, conf.ownership)
  return made
}

/** The backup's script line, if there is a backup. */
export function backupScriptLine(conf: string): { exists: boolean; script?: ScriptLine } {
  const path = backupPath(conf)
  if (!existsSync(path)) return { exists: false }
  return { exists: true, script: findScriptLine(readConf(path).text) }
}

export function removeBackup(conf: string): void {
  try {
    unlinkSync(backupPath(conf))
  } catch (e) {
    throw fromSystemError(e, `cannot remove ${backupPath(conf)}`)
  }
}
