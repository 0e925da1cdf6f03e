// The real dedup clients, driven the same way by the dedup test and the
// dedup benchmark: what each stores for the last of a series of files.

import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): string {
  const r = spawnSync(cmd, args, { env, maxBuffer: 1 << 26 })
  if (r.status !== 0) throw new Error(`${cmd} ${args[0]} failed: ${r.stderr}`)
  return r.stdout.toString()
}

/** Bytes restic (repository v2, no compression) adds for the last of `files`, backed up in turn. */
export function resticAdded(work: string, files: string[]): number {
  const repo = mkdtempSync(join(work, 'restic-'))
  const env = { ...process.env, RESTIC_PASSWORD: 'vma-opt', RESTIC_REPOSITORY: repo, RESTIC_CACHE_DIR: join(repo, 'cache') }
  run('restic', ['init', '--repository-version', '2', '-q'], env)
  let added = 0
  for (const f of files) {
    const out = run('restic', ['backup', '--compression', 'off', '--json', '-q', f], env)
    added = out
      .trim()
      .split('\n')
      .map(l => JSON.parse(l))
      .find(m => m.message_type === 'summary').data_added
  }
  rmSync(repo, { recursive: true, force: true })
  return added
}

/** Bytes borg (default chunker, no compression) adds for the last of `files`. */
export function borgAdded(work: string, files: string[]): number {
  const base = mkdtempSync(join(work, 'borg-'))
  const repo = join(base, 'repo')
  const env = { ...process.env, BORG_BASE_DIR: base, BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes', BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes' }
  run('borg', ['init', '-e', 'none', repo], env)
  let added = 0
  files.forEach((f, i) => {
    added = JSON.parse(run('borg', ['create', '--json', '--compression', 'none', `${repo}::${i}`, f], env)).archive.stats.deduplicated_size
  })
  rmSync(base, { recursive: true, force: true })
  return added
}

/** Size of rdiff's delta of `b` against the signature of `a`. */
export function rdiffDelta(work: string, a: string, b: string): number {
  const sig = join(work, 'rdiff.sig')
  const delta = join(work, 'rdiff.delta')
  run('rdiff', ['-f', 'signature', a, sig], process.env)
  run('rdiff', ['-f', 'delta', sig, b, delta], process.env)
  const size = statSync(delta).size
  rmSync(sig)
  rmSync(delta)
  return size
}
