// The delta header (spec/delta-format.md) byte by byte: version DLT1, the
// identity pointers at 60 and 64, blobs after the device names, and what a
// reader refuses.

import t from 'tap'
import { VmaHeader } from '../src/format/header.js'
import { DELTA_VERSION } from '../src/format/constants.js'
import { decodeIdentity, encodeIdentity, identityDifference, type ArchiveIdentity } from '../src/format/delta-identity.js'
import { deltaIdentities } from '../src/archive/archive-identity.js'
import { fixHeaderMd5 } from './fixtures/make-vma.js'

const base: ArchiveIdentity = { ctime: 100, configs: [{ name: 'qemu-server.conf', sha256: 'a'.repeat(64) }], devices: [{ id: 1, name: 'drive-scsi0', size: 65536, digest: '0123456789abcdef' }] }
const uuid = Buffer.from('12345678aabbccddeeffaabbccddeeff', 'hex')
const configs = [{ name: 'qemu-server.conf', data: Buffer.from('cores: 2\n') }]
const devices = [{ id: 1, name: 'drive-scsi0', size: 131072 }]
const target = (): ArchiveIdentity => ({
  ctime: 200,
  configs: [{ name: 'qemu-server.conf', sha256: '9b3b7e0b1a3b1d7d4c0c0a4c6c8b8f5a4e0b9c1f3b8a0e5d5f1c2b3a4d5e6f70' }],
  devices: [{ id: 1, name: 'drive-scsi0', size: 131072, digest: 'fedcba9876543210' }],
})

t.test('a delta header round-trips and keeps the archive layout', async t => {
  const h = VmaHeader.encode({ uuid, ctime: 200, configs, devices, delta: { base: encodeIdentity(base), target: encodeIdentity(target()), checked: true } })
  t.equal(h.readUInt32BE(4), DELTA_VERSION)
  t.equal(h.subarray(4, 8).toString('latin1'), 'DLT2', 'the version reads DLT2 in a hex dump')
  t.equal(h.subarray(0, 4).toString('latin1'), 'VMA\0', 'the magic is unchanged')
  const d = VmaHeader.decode(h)
  t.same(decodeIdentity(d.delta!.base, 'base'), base)
  t.equal(d.configs[0]!.data.toString(), 'cores: 2\n')
  t.equal(d.deviceList[0]!.name, 'drive-scsi0')
  // The blobs come after the configs and device names, as the spec says.
  const blobs = h.subarray(12288, 12288 + h.readUInt32BE(52))
  t.ok(h.readUInt32BE(60) > blobs.indexOf('drive-scsi0'), 'base identity after the device names')
  t.ok(h.readUInt32BE(64) > h.readUInt32BE(60), 'target identity after the base identity')
  // An archive header leaves 60 and 64 zero.
  const a = VmaHeader.encode({ uuid, ctime: 200, configs, devices })
  t.equal(a.readUInt32BE(4), 1)
  t.equal(a.readUInt32BE(60) + a.readUInt32BE(64), 0)
  t.equal(VmaHeader.decode(a).delta, undefined)
})

t.test('what a reader refuses', async t => {
  const h = VmaHeader.encode({ uuid, ctime: 200, configs, devices, delta: { base: encodeIdentity(base), target: encodeIdentity(target()), checked: true } })
  const bad = Buffer.from(h)
  bad.writeUInt32BE(bad.readUInt32BE(60) + 1, 60)
  fixHeaderMd5(bad)
  t.throws(() => VmaHeader.decode(bad), { code: 'VMA_BAD_POINTER' }, 'a pointer off the blob chain')
  t.throws(() => decodeIdentity(Buffer.from('{"ctime":1}'), 'base'), { code: 'VMA_DELTA_IDENTITY' })
  t.throws(() => decodeIdentity(Buffer.from('not json'), 'base'), { code: 'VMA_DELTA_IDENTITY' })
  t.throws(() => decodeIdentity(encodeIdentity({ ...base, devices: [{ ...base.devices[0]!, digest: 'xyz' }] }), 'base'), { code: 'VMA_DELTA_IDENTITY' })
  // A header whose own fields disagree with its target identity.
  const lying = VmaHeader.decode(VmaHeader.encode({ uuid, ctime: 201, configs, devices, delta: { base: encodeIdentity(base), target: encodeIdentity(target()), checked: true } }))
  t.throws(() => deltaIdentities(lying, 'x'), { code: 'VMA_DELTA_IDENTITY' })
  t.throws(() => deltaIdentities(VmaHeader.decode(VmaHeader.encode({ uuid, ctime: 1, configs, devices })), 'x'), { code: 'VMA_NOT_DELTA' })
})

t.test('identities compare by content, not by uuid or order of words', async t => {
  t.equal(identityDifference(base, JSON.parse(JSON.stringify(base))), undefined)
  t.match(identityDifference(base, { ...base, ctime: 101 }), /creation time/)
  t.match(identityDifference(base, { ...base, devices: [{ ...base.devices[0]!, size: 1 }] }), /bytes/)
  t.match(identityDifference(base, { ...base, devices: [{ ...base.devices[0]!, digest: '1111111111111111' }] }), /content of drive-scsi0/)
  t.match(identityDifference(base, { ...base, configs: [] }), /configs/)
})
