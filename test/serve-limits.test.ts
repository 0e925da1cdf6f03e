// vma-opt serve against clients that hold on: a handshake sent a byte at a
// time is cut at its absolute deadline; idle clients are dropped after
// --idle-timeout and the 64 connections open up again for a real client
// (nbdinfo); a client that stops reading its replies is dropped; refusals are
// logged; 63 clients flooding requests they never read keep the server's
// RSS (VmHWM from /proc) under 150 MB while qemu-img copies the disk
// correctly; a read followed by shutdown(SHUT_WR) still gets its reply; a
// read the archive (or a delta of the chain) cannot serve fails with EIO for
// that request alone, and nothing wrong is ever sent. SIGTERM stops the
// server at once whatever its clients do (stalled on a full send buffer,
// half-closed, flooding, in the handshake): every connection destroyed,
// socket and spool removed, exit 143; and a reader fed a flood lets the event
// loop turn every BURST messages, so no client holds up a signal.

import t from 'tap'
import type { Test } from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { makeContent, makeVma } from './fixtures/make-vma.js'
import { BIN, cliEnv, sha256 } from './helpers.js'
import { startServe, type ServeChild } from './fuzz/serve-child.js'
import { serveArchive } from '../src/serve/serve.js'
import { CMD_FLUSH, FLAG_DF, OPT_GO, RawNbd, goData, optionBytes, readWhole, requestBytes } from './fuzz/nbd-client.js'
import { BURST, SocketReader } from '../src/serve/socket-reader.js'
import { REQUEST_MAGIC } from '../src/serve/nbd-protocol.js'
import { needTools } from './tools.js'

const have = (p: string) => spawnSync('sh', ['-c', `command -v ${p}`]).status === 0
const noQemu = !have('qemu-img') && 'qemu-img not installed (Debian: qemu-utils)'
const noNbdinfo = !have('nbdinfo') && 'nbdinfo not installed (Debian: libnbd-bin)'

// Unix socket paths are limited to 107 bytes: tap's test dirs are too deep for them.
const sockDir = mkdtempSync(join(tmpdir(), 'vma-limits-'))
t.teardown(() => rmSync(sockDir, { recursive: true, force: true }))
let sockCount = 0
const newSock = () => join(sockDir, `${++sockCount}.sock`)
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

/** Resolves with true once `p` settles, false if `ms` pass first (a guard: no test waits for ever). */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const r = await Promise.race([p.then(() => true), new Promise<boolean>(res => (timer = setTimeout(() => res(false), ms)))])
  clearTimeout(timer)
  return r
}

/** `vma-opt serve ARGS` as a child process, once it prints where it listens; stopped at the end of `t`. */
async function serve(t: Test, root: string, args: string[]): Promise<ServeChild> {
  const dir = join(root, 'serve')
  mkdirSync(join(dir, 'tmp'), { recursive: true })
  const s = await startServe(BIN, dir, args, 60_000)
  t.teardown(() => s.stop(1000))
  if (!s.listening) throw new Error(`serve did not start: ${s.stderr()}`)
  return s
}

/** Peak resident memory of a process, in MB. */
function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : NaN
}

const small = { name: 'drive-scsi0', size: 3 * 1024 * 1024 + 4096, data: makeContent(3 * 1024 * 1024 + 4096, 7) }
// A data run at the start, a zero run in the middle.
small.data.fill(0, 1 << 20, 2 << 20)
small.data.fill(0x5a, 0, 8192)

t.test('the handshake has an absolute deadline: a client sending a byte every 100 ms is cut', async t => {
  const root = t.testdir()
  writeFileSync(join(root, 'a.vma'), makeVma({ devices: [small] }).buf)
  const said: string[] = []
  const sock = newSock()
  const s = await serveArchive(join(root, 'a.vma'), { address: { socket: sock }, log: m => said.push(m), limits: { handshakeMs: 1500 } })
  t.teardown(() => s.close())
  const c = await RawNbd.connect(sock)
  // Valid, just slow: client flags, INFO and GO, a byte at a time (7 s in all).
  const bytes = Buffer.concat([Buffer.from([0, 0, 0, 3]), optionBytes(6, goData('drive-scsi0')), optionBytes(OPT_GO, goData('drive-scsi0'))])
  let sent = 0
  for (; sent < bytes.length && !c.isClosed; sent++) {
    c.sock.write(bytes.subarray(sent, sent + 1))
    await sleep(100)
  }
  t.ok(c.isClosed, `the server closed the connection while the client was still sending (after ${sent} of ${bytes.length} bytes)`)
  t.ok(
    said.some(m => /^client 1: dropped: the handshake was not over 1\.5 s after it connected$/.test(m)),
    'and said why',
    { said },
  )
  const [ok, size] = await RawNbd.open(sock, 'drive-scsi0')
  t.equal(size, small.size, 'a client that completes its handshake in time is served')
  ok.sock.destroy()
})

t.test('idle, stalled and trickling clients are dropped; the connection limit frees up for nbdinfo', { skip: noNbdinfo }, async t => {
  const root = t.testdir()
  writeFileSync(join(root, 'a.vma'), makeVma({ devices: [small] }).buf)
  const sock = newSock()
  const s = await serve(t, root, [join(root, 'a.vma'), '--socket', sock, '--idle-timeout', '2'])
  // An active client: a flush every 300 ms, each answered, the whole test long.
  const [busy] = await RawNbd.open(sock, '')
  let flushes = 0
  let pinging = true
  const pinger = (async () => {
    for (let k = 1; pinging && !busy.isClosed; k++) {
      busy.request(CMD_FLUSH, 0, 0, k)
      const h = await busy.reader.read(16)
      if (h && h.readUInt32BE(4) === 0) flushes++
      await sleep(300)
    }
  })()
  // 63 clients that finish GO, read once, then sit idle: with the active one, all 64 slots.
  const idle: RawNbd[] = []
  for (let i = 0; i < 63; i++) {
    const [c, size] = await RawNbd.open(sock, 'drive-scsi0', i % 2 === 1)
    if (size !== small.size) t.fail(`client ${i}: GO answered ${size}`)
    if (i === 0) t.same((await c.read(0, 8192)).data, small.data.subarray(0, 8192), 'an idle client read once')
    idle.push(c)
  }
  const refused = connect(sock)
  refused.on('error', () => undefined)
  let greeted = false
  refused.on('data', () => (greeted = true))
  t.ok(await within(new Promise(r => refused.on('close', r)), 10_000), 'a 65th client is closed at once')
  t.notOk(greeted, '...without a greeting')
  t.ok(await within(Promise.all(idle.map(c => c.closed)), 30_000), 'the 63 idle clients are dropped after --idle-timeout')
  t.notOk(busy.isClosed, 'the active client is not')
  const info = spawnSync('nbdinfo', ['--size', `nbd+unix:///drive-scsi0?socket=${sock}`], { encoding: 'utf8', timeout: 30_000 })
  t.equal(info.stdout.trim(), String(small.size), 'nbdinfo gets in and reads the size')

  // A client that asks for 3 MiB and reads none of it: stalled, dropped.
  const [lazy] = await RawNbd.open(sock, 'drive-scsi0')
  lazy.sock.pause()
  lazy.request(0, 0, small.size, 1)
  // (A paused socket never reports its close: watch the server's log, then look.)
  for (let i = 0; i < 300 && !/read none of its replies/.test(s.stderr()); i++) await sleep(100)
  t.match(s.stderr(), /client \d+: dropped: it read none of its replies for 2(\.\d)? s/, 'a client that reads none of its replies is dropped, and the server says so')
  let cut = false
  const drain = lazy.reader.skip(small.size + 16).catch(() => (cut = true))
  t.ok(await within(drain, 10_000), '...and reading on finds the end of its connection')
  t.ok(cut, '...before its reply was all sent')
  // A client that trickles a request a byte at a time never completes one: idle.
  const [slow] = await RawNbd.open(sock, 'drive-scsi0')
  const req = requestBytes(0, 0, 4096, 1)
  let sent = 0
  for (; sent < req.length && !slow.isClosed; sent++) {
    slow.sock.write(req.subarray(sent, sent + 1))
    await sleep(500)
  }
  t.ok(slow.isClosed, `a request sent a byte every 500 ms is dropped before it is complete (${sent} of 28 bytes)`)
  pinging = false
  await pinger
  t.notOk(busy.isClosed, 'the active client stayed connected throughout')
  t.ok(flushes >= 5, `and had its ${flushes} flushes answered`)
  busy.sock.destroy()
  t.equal((await s.stop()).status, 143)
  const err = s.stderr()
  t.match(err, /vma-opt: refused client 65: 64 clients are connected already/, 'the refusal is logged')
  t.equal(err.match(/client \d+: dropped: idle for 2(\.\d)? s \(--idle-timeout\)/g)?.length, 64, 'each idle drop is logged (63 idle, one trickling)')
  t.notMatch(err, /at .*\.js:\d+/, 'no stack trace')
})

t.test('63 clients flooding requests they never read: RSS under 150 MB, qemu-img still copies the disk', { skip: noQemu }, async t => {
  const root = t.testdir()
  const big = { name: 'drive-scsi0', size: 40 << 20, data: makeContent(40 << 20, 11) }
  writeFileSync(join(root, 'a.vma'), makeVma({ devices: [big] }).buf)
  const sock = newSock()
  const s = await serve(t, root, [join(root, 'a.vma'), '--socket', sock])
  const pid = s.pid
  const before = peakRssMb(pid)
  const floods: RawNbd[] = []
  const kinds = [
    (k: number) => requestBytes(0, 0, 32 << 20, k), // the largest read
    (k: number) => requestBytes(0, (k * 65536) % (8 << 20), 1 << 20, k, k % 3 === 0 ? FLAG_DF : 0),
    (k: number) => requestBytes(0, (k * 4096) % (1 << 20), 4096, k),
    (k: number) => requestBytes(CMD_FLUSH, 0, 0, k), // 16-byte replies
    (k: number) => requestBytes(0, 2 ** 40, 4096, k), // EINVAL
  ]
  // Each client writes until its socket stops taking requests, at most 20000 of them or 3 s.
  await Promise.all(
    Array.from({ length: 63 }, async (_, i) => {
      const [c] = await RawNbd.open(sock, 'drive-scsi0', i % 2 === 0)
      c.sock.pause()
      floods.push(c)
      const kind = kinds[i % kinds.length]!
      const t0 = Date.now()
      for (let k = 0; k < 20000 && Date.now() - t0 < 3000; k++) {
        if (!c.sock.write(kind(k)) && !(await within(new Promise(r => c.sock.once('drain', r)), 300))) break
      }
    }),
  )
  await sleep(1500)
  const out = join(root, 'copy.raw')
  const copy = spawnSync('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', `nbd+unix:///drive-scsi0?socket=${sock}`, out], { timeout: 120_000 })
  t.equal(copy.status, 0, 'qemu-img convert, the 64th client, succeeds')
  t.equal(sha256(readFileSync(out)), sha256(big.data), 'with the exact disk')
  const peak = peakRssMb(pid)
  t.ok(peak <= 150, `the server's peak RSS was ${peak.toFixed(0)} MB (${before.toFixed(0)} MB at start), at most 150`)
  t.ok(
    floods.every(c => !c.isClosed),
    'the flooders were stalled, not dropped (within the stall limit)',
  )
  for (const c of floods) c.sock.destroy()
  t.equal((await s.stop()).status, 143)
})

t.test('a read followed by shutdown(SHUT_WR) still gets its reply', async t => {
  const root = t.testdir()
  writeFileSync(join(root, 'a.vma'), makeVma({ devices: [small], order: 'shuffled' }).buf)
  const sock = newSock()
  const s = await serveArchive(join(root, 'a.vma'), { address: { socket: sock } })
  t.teardown(() => s.close())
  for (const structured of [false, true]) {
    for (const [offset, length] of [
      [4096, 8192],
      [5, (1 << 20) + 3],
      [0, small.size],
    ] as const) {
      const [c] = await RawNbd.open(sock, '', structured)
      c.request(0, offset, length, 9)
      c.sock.end()
      const r = await c.readReply(offset, length, 9)
      t.ok(r.data?.equals(small.data.subarray(offset, offset + length)), `${structured ? 'structured' : 'simple'}: ${length} bytes at ${offset}, whole and right`)
      t.ok(await within(c.closed, 10_000), '...then the server closes')
    }
  }
})

t.test('a read the archive cannot serve fails with EIO for that request alone', { skip: noQemu }, async t => {
  const root = t.testdir()
  const path = join(root, 'a.vma')
  const bytes = makeVma({ devices: [small], order: 'shuffled' }).buf
  writeFileSync(path, bytes)
  const said: string[] = []
  const sock = newSock()
  const s = await serveArchive(path, { address: { socket: sock }, log: m => said.push(m) })
  t.teardown(() => s.close())
  const clients = await Promise.all([RawNbd.open(sock, '', false), RawNbd.open(sock, '', true)])
  // Damage: the archive loses its data after it was checked (its clusters now read short).
  truncateSync(path, 0)
  for (const [c] of clients) {
    const what = c.structured ? 'structured' : 'simple'
    t.equal((await c.read(0, 4096)).error, 5, `${what}: a 4 KiB read of lost data: EIO`)
    t.equal((await c.read(0, 3 << 20, 2)).error, 5, `${what}: a 3 MiB read (streamed in pieces): EIO`)
    // Its first piece is zeros (no I/O), the data after them is lost: the error comes after the first piece.
    t.equal((await c.read((1 << 20) + 4096, 2 << 20, 5)).error, 5, `${what}: a 2 MiB read that fails after its first piece: EIO`)
    if (c.structured) t.equal((await c.read((1 << 20) + 4096, 2 << 20, 3, FLAG_DF)).error, 5, `${what}: the same read with DF: EIO`)
    const zeros = await c.read((1 << 20) + 4096, 65536, 4)
    t.same([zeros.error, zeros.data?.equals(Buffer.alloc(65536))], [0, true], `${what}: a range the archive stores as zeros still reads (no I/O)`)
  }
  // Asynchronously: the server runs in this process.
  const qemu = spawn('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', `nbd+unix:///drive-scsi0?socket=${sock}`, join(root, 'bad.raw')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let qerr = ''
  qemu.stderr!.on('data', d => (qerr += d))
  const status = await new Promise<number | null>(r => qemu.on('close', r))
  t.equal(status, 1, 'qemu-img convert fails rather than copying wrong data')
  t.match(qerr, /Input\/output error/, '...saying the read failed with EIO')
  t.ok(
    said.some(m => /^client 1: drive-scsi0: a read of 4096 bytes at 0 failed with EIO: .*\(VMA_EXTENT_TRUNCATED\)$/.test(m)),
    'each failure is logged with the export, range and reason',
    { said: said.slice(0, 3) },
  )
  // Repaired: the same connections read the right data again.
  writeFileSync(path, bytes)
  for (const [c] of clients) {
    t.ok((await readWhole(c, small.size)).equals(small.data), `${c.structured ? 'structured' : 'simple'}: the same connection reads the whole disk right afterwards`)
    c.sock.destroy()
  }
})

t.test('--idle-timeout takes seconds, 0 for none', async t => {
  const root = t.testdir()
  writeFileSync(join(root, 'a.vma'), makeVma({ devices: [small] }).buf)
  for (const bad of ['-1', 'soon']) {
    const r = spawnSync(BIN, ['serve', join(root, 'a.vma'), '--socket', newSock(), '--idle-timeout', bad], { env: cliEnv(), encoding: 'utf8', timeout: 30_000 })
    t.equal(r.status, 2, `--idle-timeout ${bad}: a usage error`)
    t.match(r.stderr, /^vma-opt: --idle-timeout takes a whole number from 0 to 2147483, got /)
  }
})

t.test('serve BASE DELTA: clusters the delta cannot give fail with EIO, the rest reads right', async t => {
  const root = t.testdir()
  const next = { ...small, data: Buffer.from(small.data) }
  next.data.fill(0x77, 70000, 200000) // clusters 1-3 come from the delta
  writeFileSync(join(root, 'a.vma'), makeVma({ devices: [small] }).buf)
  writeFileSync(join(root, 'b.vma'), makeVma({ devices: [next], seed: 2 }).buf)
  const delta = join(root, 'b.vma-delta')
  t.equal(spawnSync(BIN, ['diff', '-q', join(root, 'a.vma'), join(root, 'b.vma'), delta], { env: cliEnv() }).status, 0, 'diff')
  const sock = newSock()
  const s = await serve(t, root, [join(root, 'a.vma'), delta, '--socket', sock])
  // Damage after the start: the delta loses its cluster data.
  truncateSync(delta, 20000)
  const [c, size] = await RawNbd.open(sock, '', true)
  t.equal(size, next.data.length)
  const got: string[] = []
  for (let at = 0; at < size; at += 65536) {
    const n = Math.min(65536, size - at)
    const r = await c.read(at, n, at / 65536 + 1)
    got.push(r.data ? (r.data.equals(next.data.subarray(at, at + n)) ? 'ok' : 'WRONG') : `error ${r.error}`)
  }
  t.same(got.slice(0, 5), ['ok', 'error 5', 'error 5', 'error 5', 'ok'], "the delta's clusters fail with EIO, the base's read right")
  t.notOk(got.includes('WRONG'), 'nothing wrong is ever served')
  c.sock.destroy()
  t.equal((await s.stop()).status, 143, 'the server ran on')
  t.match(s.stderr(), /client 1: drive-scsi0: a read of 65536 bytes at 65536 failed with EIO: /, 'and said which read failed')
})

t.test('a flood already buffered is read with a turn of the event loop every BURST messages', async t => {
  const path = newSock()
  const accepted = new Promise<Socket>(r => {
    const srv = createServer(s => r(s))
    srv.listen(path)
    t.teardown(() => srv.close())
  })
  const client = connect(path)
  t.teardown(() => client.destroy())
  const server = await accepted
  t.teardown(() => server.destroy())
  const reader = new SocketReader(server)
  // 20000 requests of 28 bytes in one write: far more than one socket read.
  const total = 20000
  client.write(Buffer.concat(Array.from({ length: total }, (_, k) => requestBytes(CMD_FLUSH, 0, 0, k))))
  let got = 0
  let torn = 0
  let sinceTurn = 0
  let longest = 0
  let turning = true
  // Counts the messages read between two turns of the event loop (setImmediate runs once a turn).
  const turn = () => {
    longest = Math.max(longest, sinceTurn)
    sinceTurn = 0
    if (turning) setImmediate(turn)
  }
  setImmediate(turn)
  while (got < total) {
    const m = await reader.read(28)
    if (!m) break
    if (m.readUInt32BE(0) !== REQUEST_MAGIC || m.readBigUInt64BE(8) !== BigInt(got)) torn++
    got++
    sinceTurn++
  }
  turning = false
  longest = Math.max(longest, sinceTurn)
  t.equal(got, total, 'every request was read')
  t.equal(torn, 0, 'each whole and in order')
  t.ok(longest <= BURST, `at most ${BURST} messages were read without a turn of the event loop (the longest run: ${longest})`)
})

t.test('SIGTERM while clients flood, stall on a full send buffer, half-close or sit in the handshake: exit 143 at once, socket and spool removed', { skip: needTools('zstd') }, async t => {
  const root = t.testdir()
  const disk = { name: 'drive-scsi0', size: 8 << 20, data: makeContent(8 << 20, 5) }
  writeFileSync(join(root, 'a.vma'), makeVma({ devices: [disk] }).buf)
  t.equal(spawnSync('zstd', ['-q', join(root, 'a.vma'), '-o', join(root, 'a.vma.zst')]).status, 0, 'zstd')
  const dir = join(root, 'serve')
  const spoolDir = join(root, 'spool')
  mkdirSync(join(dir, 'tmp'), { recursive: true })
  mkdirSync(spoolDir)
  const sock = newSock()
  const s = await startServe(BIN, dir, [join(root, 'a.vma.zst'), '--socket', sock, '--tmpdir', spoolDir], 60_000)
  t.teardown(() => s.stop(1000))
  t.ok(s.listening, `serve listens (${s.stderr().trim()})`)
  t.equal(readdirSync(spoolDir).length, 1, 'the compressed archive is spooled')

  const clients: RawNbd[] = []
  // Stalled: 1 MiB reads they never read, then shutdown(SHUT_WR). Their
  // sessions end up waiting to write replies into a full send buffer.
  for (let i = 0; i < 6; i++) {
    const [c] = await RawNbd.open(sock, 'drive-scsi0', i % 2 === 0)
    c.sock.pause()
    clients.push(c)
    for (let k = 0; k < 300; k++) if (!c.sock.write(requestBytes(0, (k << 16) % (7 << 20), 1 << 20, k))) break
    c.sock.end()
  }
  // Busy: flushes and small reads as fast as the server answers them, read and thrown away.
  let flooding = true
  const burst = Buffer.concat(Array.from({ length: 4096 }, (_, k) => requestBytes(k % 2 ? CMD_FLUSH : 0, (k << 12) % (8 << 20), k % 2 ? 0 : 4096, k)))
  for (let i = 0; i < 8; i++) {
    const [c] = await RawNbd.open(sock, 'drive-scsi0')
    c.sock.removeAllListeners('data')
    c.sock.on('data', () => undefined)
    c.sock.resume()
    clients.push(c)
    const pump = () => {
      if (!flooding || c.isClosed) return
      if (c.sock.write(burst)) setImmediate(pump)
      else c.sock.once('drain', pump)
    }
    pump()
  }
  // Half-way through the handshake: the flags sent, no option.
  for (let i = 0; i < 2; i++) {
    const c = await RawNbd.connect(sock)
    c.sock.write(Buffer.from([0, 0, 0, 3]))
    clients.push(c)
  }
  await sleep(1500)
  t.ok(s.alive(), 'serve runs on under the flood')

  // The grace time is a hang guard, not a speed test: a server that waits for its clients never exits.
  const r = await s.stop(15_000)
  flooding = false
  t.notOk(r.timedOut, 'serve exited after SIGTERM without being killed')
  t.equal(r.status, 143, 'with the status of SIGTERM')
  t.match(r.stderr, /vma-opt: interrupted by SIGTERM/, 'saying why')
  t.notMatch(r.stderr, /^\s+at .+[:(]/m, 'no stack trace')
  t.notOk(existsSync(sock), 'the socket is removed')
  t.same(readdirSync(spoolDir), [], 'the spool is removed')
  // Whatever the server had sent is drained (and dropped), so that each client reaches the end of its stream.
  for (const c of clients) {
    c.sock.removeAllListeners('data')
    c.sock.on('data', () => undefined)
    c.sock.resume()
  }
  t.ok(await within(Promise.all(clients.map(c => c.closed)), 10_000), 'every client saw its connection end')
  for (const c of clients) c.sock.destroy()
})
