// The restore layer's own guards, on the functions themselves: how a guest
// name is printed, which names may become a host file name, how a target
// is parsed.

import t from 'tap'
import { printable } from '../src/restore/resolve-path.js'
import { safeName } from '../src/restore/copy-out.js'
import { parseTarget } from '../src/restore/guest-target.js'
import { modeString } from '../src/restore/entry-format.js'

t.test('printable: one line, no control bytes, every other byte as \\xNN', async t => {
  t.equal(printable(Buffer.from('plain name.txt')), 'plain name.txt')
  t.equal(printable(Buffer.from('new\nline')), 'new\\x0aline')
  t.equal(printable(Buffer.from('esc\x1b[2J')), 'esc\\x1b[2J')
  t.equal(printable(Buffer.from('back\\slash')), 'back\\x5cslash', 'a backslash too, so the escapes are unambiguous')
  t.equal(printable(Buffer.from([0x61, 0xff, 0xc3])), 'a\\xff\\xc3', 'invalid and truncated UTF-8')
  t.equal(printable(Buffer.from('ünïcode 日本 🎉')), 'ünïcode 日本 🎉')
  t.equal(printable(Buffer.from('rtl\u202eevil')), 'rtl\\xe2\\x80\\xaeevil', 'a bidi override is escaped')
  t.equal(printable(Buffer.from([0xc0, 0x80])), '\\xc0\\x80', 'an overlong NUL')
})

t.test('safeName: a guest name never leaves its directory', async t => {
  for (const bad of ['', '.', '..', 'a/b', '/', 'a\0b']) t.throws(() => safeName(Buffer.from(bad), 'x'), { code: 'VMA_GUEST_DAMAGED' }, JSON.stringify(bad))
  for (const ok of ['...', '.a', 'a..', 'f\xff']) t.ok(safeName(Buffer.from(ok, 'latin1'), 'x'))
})

t.test('parseTarget', async t => {
  t.same(parseTarget('scsi0'), { disk: 'scsi0' })
  t.same(parseTarget('scsi0:p1'), { disk: 'scsi0', volume: 'p1' })
  t.same(parseTarget('scsi0:p1:/etc/a:b'), { disk: 'scsi0', volume: 'p1', path: '/etc/a:b' })
  t.same(parseTarget('drive-scsi0:vg/root:/'), { disk: 'drive-scsi0', volume: 'vg/root', path: '/' })
  t.same(parseTarget('virtio0:/x'), { disk: 'virtio0', path: '/x' })
  for (const bad of ['', ':p1', 'scsi0:', 'scsi0:a:b']) t.throws(() => parseTarget(bad), { code: 'VMA_USAGE' }, bad)
})

t.test('modeString as ls(1)', async t => {
  t.equal(modeString('dir', 0o755), 'drwxr-xr-x')
  t.equal(modeString('file', 0o4755), '-rwsr-xr-x')
  t.equal(modeString('file', 0o2644), '-rw-r-Sr--')
  t.equal(modeString('dir', 0o1777), 'drwxrwxrwt')
  t.equal(modeString('symlink', 0o777), 'lrwxrwxrwx')
})
