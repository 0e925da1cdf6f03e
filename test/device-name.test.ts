// A device is named as vzdump writes it (drive-scsi0) or as people say it
// (scsi0), in cat, unpack --device and serve --device; an unknown name is a
// usage error listing the names there are; serve's default export is the
// first real disk, not the EFI variable store a UEFI VM lists first.

import t from 'tap'
import type { Test } from 'tap'
import { skipHere } from './tools.js'
import { execFile, spawnSync } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { makeContent, makeVma, type DeviceSpec } from './fixtures/make-vma.js'
import { BIN, cliInProcess, sha256 } from './helpers.js'
import { serveArchive } from '../src/serve/serve.js'
import { findDevice, isStateDisk } from '../src/format/device-name.js'

const run = promisify(execFile)

const devices: DeviceSpec[] = [
  { name: 'drive-efidisk0', size: 540672 },
  { name: 'drive-tpmstate0', size: 4 << 20 },
  { name: 'drive-scsi0', size: 3 << 20 },
  { name: 'scsi1', size: 1 << 20 }, // a name without the prefix is found as it is
].map((d, i) => ({ ...d, data: makeContent(d.size, 70 + i) }))

function archive(t: Test): { dir: string; src: string } {
  const dir = t.testdir({})
  const src = join(dir, 'uefi.vma')
  writeFileSync(src, makeVma({ devices }).buf)
  return { dir, src }
}

t.test('the rule: exact name first, then without drive-; efidisk and tpmstate are state disks', async t => {
  const list = [{ name: 'drive-scsi0' }, { name: 'scsi0x' }, { name: 'drive-drive-x' }, { name: 'drive-x' }]
  t.equal(findDevice(list, 'scsi0')?.name, 'drive-scsi0')
  t.equal(findDevice(list, 'drive-scsi0')?.name, 'drive-scsi0')
  t.equal(findDevice(list, 'drive-x')?.name, 'drive-x', 'an exact name wins over the prefixed one')
  t.equal(findDevice(list, 'scsi'), undefined, 'no partial matches')
  t.ok(isStateDisk('drive-efidisk0') && isStateDisk('tpmstate0') && isStateDisk('drive-efidisk1'))
  t.notOk(isStateDisk('drive-scsi0') || isStateDisk('drive-efidisk0x') || isStateDisk('drive-sata-efidisk0'))
})

t.test('cat and unpack take scsi0 for drive-scsi0', async t => {
  const { dir, src } = archive(t)
  const r = spawnSync(process.execPath, [BIN, 'cat', src, 'scsi0'], { maxBuffer: 64 << 20 })
  t.equal(r.status, 0, r.stderr?.toString())
  t.equal(sha256(r.stdout), sha256(devices[2]!.data!), 'cat scsi0 writes drive-scsi0')
  const out = join(dir, 'out')
  const u = await cliInProcess(['unpack', src, out, '--device', 'scsi0', '--device', 'scsi1'])
  t.equal(u.status, 0, u.stderr)
  t.same(
    readdirSync(out)
      .filter(f => f.endsWith('.raw'))
      .sort(),
    ['disk-drive-scsi0.raw', 'disk-scsi1.raw'],
  )
  t.equal(sha256(readFileSync(join(out, 'disk-drive-scsi0.raw'))), sha256(devices[2]!.data!))
  const bad = await cliInProcess(['cat', src, 'scsi9'])
  t.equal(bad.status, 2, 'unknown device: usage error')
  t.match(bad.stderr, /no device named "scsi9" in the archive \(it has: drive-efidisk0, drive-tpmstate0, drive-scsi0, scsi1\)/)
})

t.test('serve: the default export is the first disk that is not EFI or TPM state; --device scsi1 works', async t => {
  const have = spawnSync('sh', ['-c', 'command -v nbdinfo']).status === 0
  if (!have) return skipHere(t, 'nbdinfo not installed (Debian: libnbd-bin)')
  const { src } = archive(t)
  // Socket paths are short (108 bytes): not under tap's long fixture names.
  const dir = mkdtempSync(join(tmpdir(), 'vma-dev-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const sock = join(dir, 's.sock')
  const s = await serveArchive(src, { address: { socket: sock } })
  t.teardown(() => s.close())
  // The server runs in this process: the client must not block its event loop.
  const size = async (name: string, socket = sock) => (await run('nbdinfo', ['--size', `nbd+unix:///${name}?socket=${socket}`])).stdout.trim()
  t.equal(await size(''), String(3 << 20), 'the default export is drive-scsi0')
  t.equal(await size('drive-efidisk0'), '540672', 'the EFI disk is still there by name')
  t.equal(s.defaultExport?.name, 'drive-scsi0', 'and the listing marks drive-scsi0 as the default')
  t.equal(await size('scsi0'), String(3 << 20), 'an export asked for as scsi0')
  await s.close()
  const sock2 = join(dir, 's2.sock')
  const only = await serveArchive(src, { address: { socket: sock2 }, devices: ['scsi1', 'efidisk0'] })
  t.teardown(() => only.close())
  t.equal(await size('scsi1', sock2), String(1 << 20), 'served by its own name')
  t.equal(await size('', sock2), String(1 << 20), 'with only state disks besides, the real disk is the default')
})
