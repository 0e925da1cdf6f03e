// optimize --trim on a backup with RAM state: nothing may be trimmed, not the
// disk (a resumed guest's page cache refers to it as it was) and not the
// vmstate stream, even when the stream's bytes look like an ext4 with
// deleted files. What Proxmox's vma extract restores must be unchanged.
import t from 'tap'
import { createHash } from 'node:crypto'
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { buildExt, TOOLS_MISSING } from './trim-built-check.js'
import { cli, vmaExtract, vmaMissing } from './trim-archive-helpers.js'

const skip = TOOLS_MISSING.length ? `missing tools: ${TOOLS_MISSING.join(', ')} (Debian packages e2fsprogs, zerofree)` : vmaMissing()

t.test('a vmstate archive is carried untrimmed', { skip }, async t => {
  const dir = t.testdir()
  const img = join(dir, 'disk.img')
  buildExt(t, dir, img, 12 << 20, ['-t', 'ext4'])
  const src = join(dir, 'pack-src')
  mkdirSync(src, { recursive: true })
  writeFileSync(join(src, 'qemu-server.conf'), 'memory: 512\n')
  copyFileSync(img, join(src, 'disk-drive-scsi0.raw'))
  copyFileSync(img, join(src, 'disk-state00.raw')) // RAM state that looks like a trimmable ext4
  const packed = join(dir, 'packed.vma')
  let r = cli(['pack', src, packed, '--ctime', '1700000000', '-q'])
  t.equal(r.status, 0, r.stderr)
  // pack refuses the name "vmstate": rename a device of the same length and fix the header's md5.
  const b = readFileSync(packed)
  const at = b.indexOf('state00\0', 12288, 'latin1')
  t.ok(at > 0, 'device name found')
  b.write('vmstate', at, 'latin1')
  const size = b.readUInt32BE(56)
  b.fill(0, 32, 48)
  createHash('md5').update(b.subarray(0, size)).digest().copy(b, 32)
  const raw = join(dir, 'vmstate.vma')
  writeFileSync(raw, b)

  const out = join(dir, 'out.vma')
  r = cli(['optimize', '--trim', '--json', raw, out])
  t.equal(r.status, 0, r.stderr)
  const res = JSON.parse(r.stdout)
  t.match(res.trim.reason, /vmstate/, 'the report says why nothing is trimmed')
  t.same(
    Object.values(res.trim.zeroedBytes ?? {}).filter(n => n !== 0),
    [],
    'no byte zeroed',
  )
  const a = await vmaExtract(raw, join(dir, 'ex-in'))
  const o = await vmaExtract(out, join(dir, 'ex-out'))
  t.equal(a.status, 0, a.stderr)
  t.equal(o.status, 0, o.stderr)
  t.same([...o.sums], [...a.sums], 'Proxmox restores the same disk')
  const ain = readFileSync(join(dir, 'ex-in', 'vmstate.bin'))
  t.ok(readFileSync(join(dir, 'ex-out', 'vmstate.bin')).equals(ain), 'the same RAM state')
})
