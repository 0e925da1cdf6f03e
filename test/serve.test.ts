// vma-opt serve with real NBD clients: qemu-img convert of every export
// equals the device, for plain, compressed and optimized archives and odd
// sizes; nbdinfo lists the exports and maps the holes; clients read at once;
// hostile clients on a raw socket get errors or are dropped while a real
// client keeps reading correct data; the socket is 0600 and removed on exit.

import t from 'tap'
import { skipHere } from './tools.js'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { expectedOptimized, makeContent, makeVma, type DeviceSpec } from './fixtures/make-vma.js'
import { BIN, cliEnv, sha256 } from './helpers.js'
import { Writable } from 'node:stream'
import { SocketReader } from '../src/serve/socket-reader.js'
import { serveArchive } from '../src/serve/serve.js'
import { parseListen } from '../src/cli/commands/serve.js'
import { runCli } from '../src/cli/main.js'
import { decompress, fixturesMissing, manifest } from './trim-helpers.js'
import { haveTool as have } from './tools.js'

const noQemu = !have('qemu-img') && 'qemu-img not installed (Debian: qemu-utils)'
const noNbdinfo = !have('nbdinfo') && 'nbdinfo not installed (Debian: libnbd-bin)'

const devices: DeviceSpec[] = [
  // Not a multiple of 4 KiB, with a long zero run in the middle.
  { name: 'drive-scsi0', size: 5 * 1024 * 1024 + 1536 },
  // A multiple of 4 KiB but not of 64 KiB.
  { name: 'drive-efidisk0', size: 540672 },
  { name: 'drive-virtio1', size: 1 << 20 },
].map((d, i) => ({ ...d, data: makeContent(d.size, 40 + i) }))
devices[0]!.data!.fill(0, 1 << 20, 3 << 20)
devices[2]!.data!.fill(0)

interface Served {
  child: ChildProcess
  out: string
  err: () => string
  stop(sig?: NodeJS.Signals): Promise<number | null>
}

/** Starts `vma-opt serve ARGS` and waits for its "serving" line. */
async function serve(args: string[]): Promise<Served> {
  const child = spawn(BIN, ['serve', ...args], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  // A failed assertion must not leave a server running.
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  let out = ''
  let err = ''
  child.stderr!.on('data', d => (err += d))
  const closed = new Promise<number | null>(r => child.on('close', r))
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', d => {
      out += d
      if (/\n.*\n/.test(out.slice(out.indexOf('serving')))) resolve()
    })
    closed.then(code => reject(new Error(`serve exited ${code}: ${err}`)))
  })
  return {
    child,
    out,
    err: () => err,
    stop: async (sig = 'SIGTERM') => {
      child.kill(sig)
      return closed
    },
  }
}

// Unix socket paths are limited to 107 bytes: tap's test dirs are too deep for them.
const sockDir = mkdtempSync(join(tmpdir(), 'vma-serve-'))
t.teardown(() => rmSync(sockDir, { recursive: true, force: true }))
let sockCount = 0
const newSock = () => join(sockDir, `${++sockCount}.sock`)

const uri = (sock: string, name: string) => `nbd+unix:///${name}?socket=${sock}`

function qemuCopy(from: string, to: string): Promise<number | null> {
  const c = spawn('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', from, to], { stdio: 'ignore' })
  return new Promise(r => c.on('close', r))
}

t.test('qemu-img reads every export of plain, compressed and optimized archives', { skip: noQemu }, async t => {
  const root = t.testdir()
  const v = makeVma({ devices, order: 'shuffled' })
  writeFileSync(join(root, 'plain.vma'), v.buf)
  writeFileSync(join(root, 'optimized.vma'), expectedOptimized({ devices }))
  writeFileSync(join(root, 'interleaved.vma'), makeVma({ devices, order: 'interleaved', storeZeroBlocks: true }).buf)
  spawnSync('zstd', ['-q', '-k', join(root, 'plain.vma')])
  // In this process (the library entry point), to spare a Node start-up per archive.
  for (const name of ['plain.vma', 'optimized.vma', 'interleaved.vma', 'plain.vma.zst']) {
    const sock = newSock()
    const said: string[] = []
    const s = await serveArchive(join(root, name), { address: { socket: sock }, tmpdir: root, log: m => said.push(m) })
    t.equal(statSync(sock).mode & 0o777, 0o600, `${name}: socket mode 0600`)
    t.equal(s.spooled, name.endsWith('.zst'), `${name}: spooled only when compressed`)
    t.equal(
      said.some(m => /spooling it uncompressed to/.test(m)),
      name.endsWith('.zst'),
      `${name}: says when and where it spools`,
    )
    t.same(
      s.uris,
      devices.map(d => uri(sock, d.name)),
      `${name}: one URI per disk`,
    )
    for (const d of devices) {
      const out = join(root, `${name}-${d.name}.raw`)
      t.equal(await qemuCopy(uri(sock, d.name), out), 0, `${name} ${d.name}: qemu-img convert`)
      t.equal(sha256(readFileSync(out)), sha256(d.data!), `${name} ${d.name}: same content`)
    }
    const def = join(root, `${name}-default.raw`)
    t.equal(await qemuCopy(uri(sock, ''), def), 0)
    t.equal(sha256(readFileSync(def)), sha256(devices[0]!.data!), `${name}: the default export is the first disk`)
    await s.close()
    t.notOk(existsSync(sock), `${name}: socket removed on close`)
  }
  t.notOk(spawnSync('sh', ['-c', `ls -a '${root}' | grep -v -e '^\\.*$' -e '\\.raw$' -e '\\.vma$' -e '\\.zst$'`]).stdout.length, 'no spool left')
})

t.test('nbdinfo lists the exports and maps the zero ranges as holes', { skip: noNbdinfo }, async t => {
  const root = t.testdir()
  writeFileSync(join(root, 'a.vma'), makeVma({ devices, order: 'shuffled' }).buf)
  const sock = newSock()
  const s = await serve([join(root, 'a.vma'), '--socket', sock, '--device', 'drive-scsi0', '--device', 'drive-efidisk0'])
  const list = JSON.parse(spawnSync('nbdinfo', ['--list', '--json', uri(sock, '')]).stdout.toString())
  t.same(
    list.exports.map((e: { 'export-name': string; 'export-size': number }) => [e['export-name'], e['export-size']]),
    [
      ['drive-scsi0', devices[0]!.size],
      ['drive-efidisk0', devices[1]!.size],
    ],
    'every chosen export with its exact size, in order',
  )
  if (have('nbd-client')) {
    const l = spawnSync('nbd-client', ['-l', '-unix', sock]).stdout.toString()
    t.same(
      [...l.matchAll(/^(drive-\S+): /gm)].map(m => m[1]),
      ['drive-scsi0', 'drive-efidisk0'],
      'nbd-client -l lists them too',
    )
  } else skipHere(t, 'nbd-client not installed (Debian: nbd-client)')
  const d = devices[0]!
  const map = spawnSync('nbdinfo', ['--map', uri(sock, d.name)]).stdout.toString()
  const ext = [...map.matchAll(/^\s*(\d+)\s+(\d+)\s+(\d+)/gm)].map(m => [Number(m[1]), Number(m[2]), Number(m[3])])
  t.equal(
    ext.reduce((a, e) => a + e[1]!, 0),
    d.size,
    'the map covers the whole disk',
  )
  const zeroRun = ext.find(e => e[0]! <= 1 << 20 && e[0]! + e[1]! >= 3 << 20)
  t.equal(zeroRun?.[2], 3, 'the 2 MiB zero run is one hole,zero extent')
  let wrong = 0
  for (const [off, len, type] of ext) {
    for (let b = off!; b < off! + len!; b += 4096) {
      const zero = d.data!.subarray(b, Math.min(b + 4096, d.size)).every(x => x === 0)
      if (zero !== (type === 3)) wrong++
    }
  }
  t.equal(wrong, 0, 'a 4 KiB block is a hole exactly when it is all zeros')
  await s.stop()
})

t.test('two clients at once, and TCP on 127.0.0.1', { skip: noQemu }, async t => {
  const root = t.testdir()
  writeFileSync(join(root, 'a.vma'), makeVma({ devices, order: 'interleaved' }).buf)
  const s = await serve([join(root, 'a.vma'), '--listen', '127.0.0.1:0'])
  const m = /nbd:\/\/127\.0\.0\.1:(\d+)\/drive-scsi0/.exec(s.out)
  t.ok(m, 'prints the TCP URI with the port it bound')
  const codes = await Promise.all([0, 1].map(i => qemuCopy(`nbd://127.0.0.1:${m![1]}/drive-scsi0`, join(root, `${i}.raw`))))
  t.same(codes, [0, 0])
  for (const i of [0, 1]) t.equal(sha256(readFileSync(join(root, `${i}.raw`))), sha256(devices[0]!.data!), `client ${i}: correct data`)
  t.equal(await s.stop('SIGINT'), 130, 'Ctrl-C ends it')
})

/** A raw NBD client: whatever bytes a test wants to send, and reads of exact lengths. */
class Raw {
  readonly reader: SocketReader
  readonly closed: Promise<void>
  constructor(readonly sock: Socket) {
    sock.on('error', () => undefined)
    this.reader = new SocketReader(sock)
    this.closed = new Promise(r => sock.on('close', () => r()))
  }
  static async open(path: string): Promise<Raw> {
    const sock = connect(path)
    await new Promise((r, j) => sock.once('connect', r).once('error', j))
    const c = new Raw(sock)
    if ((await c.reader.read(18))?.readBigUInt64BE(0) !== 0x4e42444d41474943n) throw new Error('no NBDMAGIC greeting')
    sock.write(Buffer.from([0, 0, 0, 3])) // fixed newstyle, no zeroes
    return c
  }
  option(opt: number, data: Buffer, length = data.length): void {
    const h = Buffer.alloc(16)
    h.writeBigUInt64BE(0x49484156454f5054n, 0)
    h.writeUInt32BE(opt, 8)
    h.writeUInt32BE(length, 12)
    this.sock.write(Buffer.concat([h, data]))
  }
  /** NBD_OPT_GO for `name` (simple replies): reads replies up to the ACK. */
  async go(name: string): Promise<number> {
    const n = Buffer.from(name)
    const d = Buffer.alloc(6 + n.length)
    d.writeUInt32BE(n.length, 0)
    n.copy(d, 4)
    this.option(7, d)
    let size = -1
    for (;;) {
      const h = (await this.reader.read(20))!
      const body = (await this.reader.read(h.readUInt32BE(16))) ?? Buffer.alloc(0)
      if (h.readUInt32BE(12) === 3 && body.readUInt16BE(0) === 0) size = Number(body.readBigUInt64BE(2))
      if (h.readUInt32BE(12) !== 3) return h.readUInt32BE(12) === 1 ? size : -h.readUInt32BE(12)
    }
  }
  request(type: number, offset: number, length: number, cookie: number, payload?: Buffer): void {
    const r = Buffer.alloc(28)
    r.writeUInt32BE(0x25609513, 0)
    r.writeUInt16BE(type, 6)
    r.writeBigUInt64BE(BigInt(cookie), 8)
    r.writeBigUInt64BE(BigInt(offset), 16)
    r.writeUInt32BE(length, 24)
    this.sock.write(payload ? Buffer.concat([r, payload]) : r)
  }
  /** A simple reply: [error, cookie, data (when ok and `len` given)]. */
  async reply(len = 0): Promise<[number, number, Buffer]> {
    const h = (await this.reader.read(16))!
    if (h.readUInt32BE(0) !== 0x67446698) throw new Error('not a simple reply')
    const err = h.readUInt32BE(4)
    const data = err === 0 && len > 0 ? (await this.reader.read(len))! : Buffer.alloc(0)
    return [err, Number(h.readBigUInt64BE(8)), data]
  }
}

t.test('hostile clients get errors or are dropped; the others keep reading', { skip: noQemu }, async t => {
  const root = t.testdir()
  writeFileSync(join(root, 'a.vma'), makeVma({ devices, order: 'shuffled' }).buf)
  const sock = newSock()
  const s = await serve([join(root, 'a.vma'), '--socket', sock])
  const d = devices[0]!
  // A well-behaved client copies the disk over and over while the others misbehave.
  let stopCopying = false
  let copies = 0
  let badCopies = 0
  const copier = (async () => {
    while (!stopCopying) {
      const out = join(root, 'copy.raw')
      const ok = (await qemuCopy(uri(sock, d.name), out)) === 0 && sha256(readFileSync(out)) === sha256(d.data!)
      if (ok) copies++
      else badCopies++
    }
  })()

  const badMagic = await Raw.open(sock)
  badMagic.sock.write(Buffer.alloc(16, 0x41))
  await badMagic.closed
  t.pass('bad option magic: disconnected')

  const huge = await Raw.open(sock)
  huge.option(1, Buffer.alloc(0), 0xffffffff)
  await huge.closed
  t.pass('an option of 4 GiB: disconnected, nothing allocated')

  const unknownExport = await Raw.open(sock)
  t.equal(await unknownExport.go('drive-nope'), -(0x80000000 + 6), 'GO for an unknown export: NBD_REP_ERR_UNKNOWN')
  t.equal(await unknownExport.go('drive-scsi0'), d.size, '...and the negotiation goes on')

  const c = await Raw.open(sock)
  t.equal(await c.go('drive-scsi0'), d.size, 'GO: the exact size')
  c.request(0, d.size - 100, 200, 1)
  t.same((await c.reply()).slice(0, 2), [22, 1], 'a read past the end: EINVAL')
  c.request(0, 0, 0xffffffff, 2)
  t.same((await c.reply()).slice(0, 2), [22, 2], 'a read of 4 GiB: EINVAL, nothing allocated')
  c.request(0, 2 ** 60, 4096, 3)
  t.same((await c.reply()).slice(0, 2), [22, 3], 'an offset of 2^60: EINVAL')
  c.request(99, 0, 4096, 4)
  t.same((await c.reply()).slice(0, 2), [22, 4], 'an unknown command: EINVAL')
  c.request(1, 0, 4096, 5, Buffer.alloc(4096, 7))
  t.same((await c.reply()).slice(0, 2), [1, 5], 'a write: EPERM')
  c.request(4, 0, 4096, 6)
  t.same((await c.reply()).slice(0, 2), [1, 6], 'a trim: EPERM')
  c.request(3, 0, 0, 7)
  t.same((await c.reply()).slice(0, 2), [0, 7], 'flush: ok')
  c.request(0, d.size - 1000, 1000, 8)
  const [err, cookie, tail] = await c.reply(1000)
  t.same([err, cookie], [0, 8], 'after all that, a read works')
  t.ok(tail.equals(d.data!.subarray(d.size - 1000)), '...and returns the last bytes of the disk')
  c.request(2, 0, 0, 9)
  await c.closed
  t.pass('DISC: the server closes the connection')

  const badReq = await Raw.open(sock)
  await badReq.go('drive-scsi0')
  badReq.sock.write(Buffer.alloc(28, 0xee))
  await badReq.closed
  t.pass('bad request magic: disconnected')

  // Clients that vanish: mid-handshake, mid-request header, with reads in flight.
  for (let i = 0; i < 5; i++) {
    const a = await Raw.open(sock)
    if (i > 0) await a.go('drive-scsi0')
    if (i === 2) a.sock.write(Buffer.alloc(10, 0x25))
    if (i >= 3) for (let k = 0; k < 16; k++) a.request(0, 0, Math.min(32 << 20, d.size), k)
    a.sock.destroy()
  }
  // A client that asks for a lot and never reads the replies.
  const lazy = await Raw.open(sock)
  await lazy.go('drive-scsi0')
  lazy.sock.pause()
  for (let k = 0; k < 200; k++) lazy.request(0, 0, d.size, k)

  for (let i = 0; i < 100 && copies < 2; i++) await new Promise(r => setTimeout(r, 100))
  stopCopying = true
  await copier
  lazy.sock.destroy()
  t.ok(copies >= 2, `the well-behaved client copied the disk ${copies} times meanwhile`)
  t.equal(badCopies, 0, 'every copy was correct')
  t.equal(s.child.exitCode, null, 'the server is still running')
  const after = join(root, 'after.raw')
  t.equal(await qemuCopy(uri(sock, d.name), after), 0)
  t.equal(sha256(readFileSync(after)), sha256(d.data!), 'and still serves correct data')
  t.equal(await s.stop(), 143, 'SIGTERM ends it')
  t.notOk(existsSync(sock), 'and removes the socket')
  t.notMatch(s.err(), /at .*\.js:\d+/, 'no stack trace')
})

t.test('a damaged archive is refused before anything listens; usage errors', async t => {
  const root = t.testdir()
  const v = makeVma({ devices, order: 'shuffled' })
  writeFileSync(join(root, 'bad.vma'), v.buf.subarray(0, v.buf.length - 4096))
  writeFileSync(join(root, 'ok.vma'), v.buf)
  const sock = newSock()
  const run = async (args: string[]) => {
    let err = ''
    const sink = new Writable({ write: (c, _e, cb) => ((err += c), cb()) })
    return { code: await runCli(args, { stdout: sink, stderr: sink }), err: () => err }
  }
  t.equal((await run(['serve', join(root, 'bad.vma'), '--socket', sock])).code, 1, 'exit 1: invalid archive')
  t.notOk(existsSync(sock), 'no socket was created')
  const u = await run(['serve', join(root, 'ok.vma'), '--socket', sock, '--device', 'drive-nope'])
  t.equal(u.code, 2, 'an unknown --device is a usage error')
  t.match(u.err(), /no device named "drive-nope"/)
  t.equal((await run(['serve', join(root, 'ok.vma'), '--listen', 'localhost:99999'])).code, 2, 'a bad --listen is a usage error')
  t.equal((await run(['serve', join(root, 'ok.vma'), '--socket', join(root, 'x'.repeat(120))])).code, 2, 'a socket path over 107 bytes is a usage error')
  t.same(parseListen('10809'), { host: '127.0.0.1', port: 10809 }, 'a bare port binds 127.0.0.1')
  t.same(parseListen('[::1]:0'), { host: '::1', port: 0 })
  t.same(parseListen('0.0.0.0:10809'), { host: '0.0.0.0', port: 10809 })
})

t.test('structured replies: all-zero ranges go out as OFFSET_HOLE chunks', async t => {
  const root = t.testdir()
  writeFileSync(join(root, 'a.vma'), makeVma({ devices, order: 'shuffled' }).buf)
  const sock = newSock()
  const s = await serveArchive(join(root, 'a.vma'), { address: { socket: sock } })
  t.teardown(() => s.close())
  const c = await Raw.open(sock)
  c.option(8, Buffer.alloc(0))
  const ack = (await c.reader.read(20))!
  t.equal(ack.readUInt32BE(12), 1, 'STRUCTURED_REPLY: ACK')
  const d = devices[0]!
  t.equal(await c.go(d.name), d.size)
  /** Reads chunks until DONE: [type, offset, length, data][] */
  const chunks = async () => {
    const out: [number, number, number, Buffer][] = []
    for (;;) {
      const h = (await c.reader.read(20))!
      if (h.readUInt32BE(0) !== 0x668e33ef) throw new Error('not a structured reply')
      const body = (await c.reader.read(h.readUInt32BE(16)))!
      const type = h.readUInt16BE(6)
      if (type === 1) out.push([type, Number(body.readBigUInt64BE(0)), body.length - 8, body.subarray(8)])
      else if (type === 2) out.push([type, Number(body.readBigUInt64BE(0)), body.readUInt32BE(8), Buffer.alloc(0)])
      else out.push([type, body.readUInt32BE(0), 0, body])
      if (h.readUInt16BE(4) & 1) return out
    }
  }
  const rebuild = (got: [number, number, number, Buffer][], from: number, len: number) => {
    const out = Buffer.alloc(len, 0xaa)
    for (const [type, off, n, data] of got) {
      if (type === 1) data.copy(out, off - from)
      else if (type === 2) out.fill(0, off - from, off - from + n)
    }
    return out
  }
  const from = (1 << 20) - 8192,
    len = (2 << 20) + 16384
  c.request(0, from, len, 1)
  const got = await chunks()
  t.ok(rebuild(got, from, len).equals(d.data!.subarray(from, from + len)), 'data and hole chunks rebuild the range exactly')
  t.ok(
    got.some(([type, off, n]) => type === 2 && off <= 1 << 20 && off + n >= 3 << 20),
    'the 2 MiB zero run is one hole chunk',
  )
  t.ok(
    got.some(([type]) => type === 1),
    'the data around it comes as data chunks',
  )
  c.request(0, d.size, 1, 2)
  const [e] = await chunks()
  t.same([e![0], e![1]], [0x8001, 22], 'a read past the end: an error chunk, EINVAL')
  c.request(7, 0, 4096, 3)
  const [b] = await chunks()
  t.same([b![0], b![1]], [0x8001, 22], 'block status without base:allocation: EINVAL')
  c.request(0, d.size - 512, 512, 4)
  t.ok(rebuild(await chunks(), d.size - 512, 512).equals(d.data!.subarray(d.size - 512)), 'still usable: the last 512 bytes')
  c.sock.destroy()
})

t.test('serve BASE DELTA: every disk of the newest archive of the chain', { skip: noQemu }, async t => {
  const root = t.testdir()
  const day1 = devices.map((d, i) => ({ ...d, data: makeContent(d.size, 100 + i) }))
  // Day 2: one disk changed in two places, one grown.
  const day2 = day1.map(d => ({ ...d, data: Buffer.from(d.data) }))
  day2[0]!.data.fill(7, 70000, 200000)
  day2[1]!.data.fill(9, 0, 4096)
  day2[2] = { ...day2[2]!, size: day2[2]!.size + 131072, data: Buffer.concat([day2[2]!.data, Buffer.alloc(131072, 3)]) }
  writeFileSync(join(root, 'a.vma'), makeVma({ devices: day1, order: 'shuffled' }).buf)
  writeFileSync(join(root, 'b.vma'), makeVma({ devices: day2, order: 'interleaved', seed: 3 }).buf)
  const delta = join(root, 'b.vma-delta')
  t.equal(spawnSync(BIN, ['diff', join(root, 'a.vma'), join(root, 'b.vma'), delta], { env: cliEnv() }).status, 0, 'diff')
  const sock = newSock()
  const s = await serve([join(root, 'a.vma'), delta, '--socket', sock])
  for (const d of day2) {
    const out = join(root, `${d.name}.raw`)
    t.equal(await qemuCopy(uri(sock, d.name), out), 0, `qemu-img reads ${d.name}`)
    t.equal(sha256(readFileSync(out)), sha256(d.data), `${d.name} is the newest archive's disk`)
  }
  t.equal(await s.stop(), 143)
  const wrong = spawnSync(BIN, ['serve', join(root, 'b.vma'), delta, '--socket', newSock()], { env: cliEnv(), encoding: 'utf8' })
  t.equal(wrong.status, 1, 'a delta on the wrong base is refused before serving')
  t.match(wrong.stderr, /VMA_DELTA/)
})

t.test('serve --trim: the disks as optimize --trim would store them', { skip: noQemu || fixturesMissing() }, async t => {
  const root = t.testdir()
  const img = manifest().find(i => i.name === 'pos-whole-disk-ext4')!
  const archive = join(root, 'a.vma')
  t.equal(spawnSync(BIN, ['pack', '-q', archive, '--disk', `drive-scsi0=${decompress(img.name, root)}`], { env: cliEnv() }).status, 0, 'pack')
  const sock = newSock()
  const s = await serve([archive, '--trim', '--socket', sock])
  t.match(s.err(), /trim: drive-scsi0: disk ext4 .*trimmed/, 'says what it trims')
  const out = join(root, 'trimmed.raw')
  t.equal(await qemuCopy(uri(sock, 'drive-scsi0'), out), 0)
  t.equal(sha256(readFileSync(out)), img.sha256_after_trim, 'the disk reads exactly as a correct trim leaves it')
  t.equal(await s.stop(), 143)
})
