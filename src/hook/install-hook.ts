// vma-opt hook install: writes the executable vzdump runs, with the absolute
// paths of node and of vma-opt baked in (vzdump gives hooks no PATH), and
// optionally points /etc/vzdump.conf at it, keeping a backup of that file.

import { chmodSync, copyFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { VmaError, fromSystemError } from '../util/errors.js'
import type { HookOptions } from './vzdump-hook.js'

export interface InstallOptions extends HookOptions {
  path: string
  vzdumpConf?: string
  /** Replace another script: line in vzdump.conf. */
  force?: boolean
  /** The node binary to bake in (default: the one running now). */
  node?: string
}

export interface InstallResult {
  path: string
  confLine: string
  vzdumpConf?: string
  backup?: string
}

const HOOK_ENTRY = resolve(dirname(fileURLToPath(import.meta.url)), 'hook-main.js')

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

export function hookScript(o: InstallOptions): string {
  const args = [
    ...(o.keepUuid ? ['--keep-uuid'] : []),
    ...(o.zstdThreads !== undefined ? ['--zstd-threads', String(o.zstdThreads)] : []),
    ...(o.tmpdir ? ['--tmpdir', resolve(o.tmpdir)] : []),
    ...(o.strict ? ['--strict'] : []),
  ]
  return [
    '#!/bin/sh',
    '# vzdump hook written by `vma-opt hook install`: optimizes each VM backup as it lands.',
    '# vzdump runs hooks with no PATH; everything here is absolute.',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'export PATH',
    `exec ${shellQuote(o.node ?? process.execPath)} ${shellQuote(HOOK_ENTRY)} ${args.map(shellQuote).join(' ')} "$@"`.replace(/  +/g, ' '),
    '',
  ].join('\n')
}

export function installHook(o: InstallOptions): InstallResult {
  const path = resolve(o.path)
  const tmp = join(dirname(path), `.${Date.now()}.vma-opt-hook.tmp`)
  try {
    writeFileSync(tmp, hookScript(o), { mode: 0o755 })
    chmodSync(tmp, 0o755)
    renameSync(tmp, path)
  } catch (e) {
    throw fromSystemError(e, `cannot write ${path}`)
  }
  const confLine = `script: ${path}`
  const result: InstallResult = { path, confLine }
  if (o.vzdumpConf) {
    const conf = o.vzdumpConf
    const text = existsSync(conf) ? readFileSync(conf, 'utf8') : ''
    const lines = text.split('\n')
    const at = lines.findIndex(l => /^\s*script\s*:/.test(l))
    if (at >= 0) {
      const current = lines[at]!.replace(/^\s*script\s*:\s*/, '').trim()
      if (current === path) return { ...result, vzdumpConf: conf }
      if (!o.force) throw new VmaError('VMA_EXISTS', -1, `${conf} already runs the hook ${current}; use --force to replace it`)
      lines[at] = confLine
    } else {
      if (lines.length && lines[lines.length - 1] === '') lines.pop()
      lines.push(confLine, '')
    }
    try {
      if (text) {
        result.backup = `${conf}.vma-opt-backup`
        copyFileSync(conf, result.backup)
      }
      const t = `${conf}.vma-opt-tmp`
      writeFileSync(t, lines.join('\n'))
      renameSync(t, conf)
    } catch (e) {
      throw fromSystemError(e, `cannot update ${conf}`)
    }
    result.vzdumpConf = conf
  }
  return result
}
