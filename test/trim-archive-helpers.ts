// For the archive-level trim tests: the CLI as a child process, and
// Proxmox's own `vma extract` with the sha256 of every restored disk.
import { spawnSync } from 'node:child_process'
import type { Test } from 'tap'
import { createHash } from 'node:crypto'
import { createReadStream, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { BIN } from './helpers.js'
import { proxmoxVma, proxmoxVmaPath } from './tools.js'

/** Proxmox's vma, as test/tools.ts finds it ($VMA_PROXMOX or the shared copy). */
export const VMA = proxmoxVmaPath()

/** Why Proxmox's vma cannot be used here, or undefined. */
export function vmaMissing(): string | undefined {
  const v = proxmoxVma()
  return v.ok ? undefined : v.reason
}

export function cli(args: string[], o: { input?: Buffer } = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', input: o.input, maxBuffer: 64 << 20 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const c of createReadStream(path, { highWaterMark: 4 << 20 })) h.update(c as Buffer)
  return h.digest('hex')
}

/** `vma extract` of archive into out (which must not exist); exit status and sha256 per device name. */
export async function vmaExtract(archive: string, out: string): Promise<{ status: number | null; stderr: string; sums: Map<string, string> }> {
  const r = spawnSync(VMA, ['extract', archive, out], { encoding: 'utf8' })
  const sums = new Map<string, string>()
  if (r.status === 0) {
    for (const f of readdirSync(out)) {
      const m = /^disk-(.+)\.raw$/.exec(f)
      if (m) sums.set(m[1]!, await sha256File(join(out, f)))
    }
  }
  return { status: r.status, stderr: r.stderr, sums }
}

/** vma extract of `archive` into a fresh dir under `dir`, asserting exit 0; sha256 per device name. */
export async function extractSums(t: Test, archive: string, dir: string): Promise<Map<string, string>> {
  const r = await vmaExtract(archive, join(dir, `extract-${Math.random().toString(36).slice(2)}`))
  t.equal(r.status, 0, `vma extract ${archive} exits 0 ${r.stderr.slice(0, 300)}`)
  return r.sums
}
