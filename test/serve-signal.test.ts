// vma-opt serve stops on SIGTERM whatever its clients do: clients that
// flooded requests, never read the replies and half-closed (their sessions
// wait on a full send buffer), clients that flood and read as fast as they
// can (the event loop is kept busy), clients half-way through the handshake.
// The server destroys every connection, removes its socket and its spool
// and exits 143 at once. And a reader fed a flood lets the event loop turn
// every few dozen messages, so no client can hold up a signal (or the
// timers, or the other clients) for a whole burst of its requests.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { makeContent, makeVma } from './fixtures/make-vma.js'
import { BIN } from './helpers.js'
import { needTools } from './tools.js'
import { startServe } from './fuzz/serve-child.js'
import { BURST, SocketReader } from '../src/serve/socket-reader.js'
import { REQUEST_MAGIC } from '../src/serve/nbd-protocol.js'
import { CMD_FLUSH, RawNbd, requestBytes } from './fuzz/nbd-client.js'

// Unix socket paths are limited to 107 bytes: tap's test dirs are too deep for them.
const sockDir = mkdtempSync(join(tmpdir(), 'vma-signal-'))
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
