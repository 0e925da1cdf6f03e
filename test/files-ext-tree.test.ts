// The ext2/3/4 reader (src/files/ext/) against the kernel: images made by
// mke2fs -d and changed on a loop mount (test/fixtures/ext-files.ts); every
// file's stat, content sha256, runs, link target, xattrs and ACLs, and every
// directory's entries, must equal what the kernel shows on a read-only mount
// of the same image, and the listing what `debugfs ls -p` prints.
import t from 'tap'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { needTools, skipHere } from './tools.js'
import { run } from './trim-helpers.js'
import { type Truth, EXT_TOOLS, buildExtImage, openExtImage, sourceTree } from './fixtures/ext-files.js'
import { cannotMount } from './fixtures/xfs-image.js'
import type { FileStat, GuestFs } from '../src/files/guest-fs.js'

/** What debugfs must show in each image, so that each variant covers the structure it claims. */
type Proof = [command: string, pattern: RegExp, what: string]
const ETB: Proof = ['stat /islands.bin', /\(ETB0\)/, '/islands.bin has an extent tree of depth 1']
const FRAG: Proof = ['stat /frag-a.bin', /\(\d+-\d+\):\d+-\d+, \(\d+-\d+\):\d+-\d+, \(\d+-\d+\)/, '/frag-a.bin is fragmented']

const VARIANTS: { name: string; kind: string; args: string[]; bigTime: boolean; sizeMiB: number; inline?: boolean; proofs: Proof[] }[] = [
  { name: 'ext4, 4 KiB blocks, metadata_csum, 64bit, flex_bg', kind: 'ext4', args: ['-t', 'ext4', '-b', '4096'], bigTime: true, sizeMiB: 96, proofs: [ETB, FRAG] },
  {
    name: 'ext4, inline_data',
    kind: 'ext4',
    args: ['-t', 'ext4', '-b', '4096', '-O', 'inline_data'],
    bigTime: true,
    sizeMiB: 96,
    inline: true,
    proofs: [
      ETB,
      ['stat /small/s30', /Size of inline data: 60/, '/small/s30 is inline'],
      ['stat /small/s100', /Size of inline data: 1\d\d/, '/small/s100 is inline, partly in system.data'],
      ['stat /dir/sub', /Size of inline data/, '/dir/sub is an inline directory'],
    ],
  },
  {
    name: 'ext4, 1 KiB blocks, 128-byte inodes, 32-bit descriptors, meta_bg',
    kind: 'ext4',
    args: ['-t', 'ext4', '-b', '1024', '-I', '128', '-O', '^64bit,meta_bg,^resize_inode'],
    bigTime: false,
    sizeMiB: 128,
    proofs: [ETB, FRAG],
  },
  {
    name: 'ext3, 1 KiB blocks, block maps to the triple indirect level',
    kind: 'ext3',
    args: ['-t', 'ext3', '-b', '1024'],
    bigTime: true,
    sizeMiB: 128,
    proofs: [
      ['stat /islands.bin', /\(TIND\)/, '/islands.bin uses a triple indirect block'],
      ['stat /big.bin', /\(DIND\)/, '/big.bin uses a double indirect block'],
    ],
  },
  { name: 'ext2, 4 KiB blocks, no journal', kind: 'ext2', args: ['-t', 'ext2', '-b', '4096'], bigTime: true, sizeMiB: 96, proofs: [['stat /big.bin', /\(IND\)/, '/big.bin uses an indirect block']] },
]

const TYPE_BITS: Record<string, number> = { file: 0o100000, dir: 0o040000, symlink: 0o120000, chardev: 0o020000, blockdev: 0o060000, fifo: 0o010000, socket: 0o140000 }
const ns = (ts: { sec: number; nsec: number }): bigint => BigInt(ts.sec) * 1_000_000_000n + BigInt(ts.nsec)

async function contentOf(fs: GuestFs, id: number, size: number): Promise<{ sha: string; viaRuns: string; runs: number; holes: number }> {
  const h = createHash('sha256')
  const buf = Buffer.alloc(100_000) // not a block multiple: reads straddle blocks
  let off = 0
  for (;;) {
    const n = await fs.read(id, off, buf)
    if (!n) break
    h.update(buf.subarray(0, n))
    off += n
  }
  // the same bytes through runs(): data runs read, holes zeros, covering 0..size in order
  const h2 = createHash('sha256')
  let at = 0
  let runs = 0
  let holes = 0
  for await (const r of fs.runs(id)) {
    if (r.offset !== at) throw new Error(`run at ${r.offset}, expected ${at}`)
    runs++
    if (!r.data) holes += r.length
    const part = Buffer.alloc(r.length)
    if (r.data) await fs.read(id, r.offset, part)
    h2.update(part)
    at += r.length
  }
  if (at !== size) throw new Error(`runs cover ${at} bytes of ${size}`)
  return { sha: h.digest('hex'), viaRuns: h2.digest('hex'), runs, holes }
}

/** debugfs ls -p: /ino/mode/uid/gid/name/size/ per entry, '.' and '..' left out. */
function debugfsListing(img: string, path: string): Map<string, string> {
  const r = run('debugfs', ['-R', `ls -p "${path}"`, img])
  const out = new Map<string, string>()
  for (const line of r.out.split('\n')) {
    const m = /^\/(\d+)\/(\d+)\/(\d+)\/(\d+)\/(.*)\/(\d*)\/$/.exec(line)
    if (m && m[1] !== '0' && m[5] !== '.' && m[5] !== '..') out.set(m[5]!, `${m[1]} ${Number.parseInt(m[2]!, 8)} ${m[3]} ${m[4]}`)
  }
  return out
}

/** Compares every file; returns one line per difference (asserted once by the caller: 5,000-entry trees). */
async function compareAll(fs: GuestFs, img: string, truth: Map<string, Truth>, inline: boolean): Promise<{ problems: string[]; files: number; seen: Set<string>; holes: number; xattrFiles: number }> {
  const problems: string[] = []
  const t = {
    fail: (m: string) => void problems.push(m),
    same: (a: unknown, b: unknown, m: string, o?: { skip: boolean }) => {
      if (o?.skip) return
      const j = (x: unknown) => JSON.stringify(x, (_, v) => (typeof v === 'bigint' ? v.toString() : v))
      if (j(a) !== j(b)) problems.push(`${m}: got ${j(a).slice(0, 300)}, want ${j(b).slice(0, 300)}`)
    },
    equal: (a: unknown, b: unknown, m: string) => void (a !== b && problems.push(`${m}: got ${String(a)}, want ${String(b)}`)),
  }
  let holes = 0
  let xattrFiles = 0
  const seen = new Set<string>()
  let files = 0
  const visit = async (path: string, id: number): Promise<void> => {
    const want = truth.get(path)
    if (!want) {
      t.fail(`${path}: the reader lists it, the kernel does not`)
      return
    }
    seen.add(path)
    const st: FileStat = await fs.stat(id)
    const got = {
      ino: st.id,
      mode: TYPE_BITS[st.type]! | st.perm,
      uid: st.uid,
      gid: st.gid,
      size: st.size,
      nlink: st.nlink,
      blocks: st.allocated / 512,
      mtimeNs: ns(st.mtime),
      ctimeNs: ns(st.ctime),
      rdev: st.rdev,
    }
    // the kernel reports an inline file as one sector per 512 bytes more than it owns (ext4_file_getattr)
    if (inline && st.type !== 'dir' && got.blocks + Math.ceil(st.size / 512) === want.blocks) got.blocks = want.blocks
    const exp = { ino: want.ino, mode: want.mode, uid: want.uid, gid: want.gid, size: want.size, nlink: want.nlink, blocks: want.blocks, mtimeNs: want.mtimeNs, ctimeNs: want.ctimeNs, rdev: want.rdev }
    t.same(got, exp, `${path}: stat`)
    const xs = await fs.xattrs(id)
    const gotX: Record<string, string> = {}
    for (const x of [...xs].sort((a, b) => (a.name < b.name ? -1 : 1))) gotX[x.name] = x.value.toString('hex')
    if (xs.length) xattrFiles++
    t.same(gotX, Object.fromEntries(Object.entries(want.xattrs).sort()), `${path}: xattrs and ACLs as getfattr shows them`, { skip: Object.keys(want.xattrs).length === 0 && xs.length === 0 })
    if (st.type === 'file') {
      files++
      const c = await contentOf(fs, id, st.size)
      t.equal(c.sha, want.sha256, `${path}: content sha256 (${st.size} bytes)`)
      t.equal(c.viaRuns, want.sha256, `${path}: content through runs (${c.runs} runs, ${c.holes} bytes of holes)`)
      holes += c.holes
    }
    if (st.type === 'symlink') {
      t.equal((await fs.readlink(id)).toString('latin1'), want.target, `${path}: symlink target`)
      // fast or slow, the target is also the link's content through read() and runs()
      const c = await contentOf(fs, id, st.size)
      const sha = createHash('sha256')
        .update(want.target ?? '', 'latin1')
        .digest('hex')
      t.equal(c.sha, sha, `${path}: symlink target through read()`)
      t.equal(c.viaRuns, sha, `${path}: symlink target through runs()`)
    }
    if (st.type === 'dir') {
      const entries = new Map<string, number>()
      for await (const e of fs.readdir(id)) {
        const name = e.name.toString('latin1')
        entries.set(name, e.id)
        if (e.type !== undefined) {
          const child = truth.get(path === '/' ? `/${e.name.toString()}` : `${path}/${e.name.toString()}`)
          if (child && (child.mode & 0o170000) !== TYPE_BITS[e.type]) t.fail(`${path}/${name}: entry type ${e.type}`)
        }
      }
      t.same([...entries].sort(), [...(want.entries ?? [])].sort(), `${path}: entries (${entries.size}) and inode numbers`)
      const dbg = debugfsListing(img, path)
      const ours = new Map<string, string>()
      for (const [name, ino] of entries) {
        const s = await fs.stat(ino)
        ours.set(Buffer.from(name, 'latin1').toString(), `${ino} ${TYPE_BITS[s.type]! | s.perm} ${s.uid} ${s.gid}`)
      }
      t.same([...ours].sort(), [...dbg].sort(), `${path}: listing equals debugfs ls -p`)
      for (const [name, ino] of entries) await visit(path === '/' ? `/${Buffer.from(name, 'latin1').toString()}` : `${path}/${Buffer.from(name, 'latin1').toString()}`, ino)
    }
  }
  await visit('/', fs.root)
  return { problems, files, seen, holes, xattrFiles }
}

const missing = needTools(...EXT_TOOLS, 'mkfifo', 'mknod', 'touch')
if (missing) t.plan(0, missing)
else {
  const top = t.testdir()
  const why = cannotMount(top)
  if (why) skipHere(t, why)
  else {
    const src = join(top, 'src')
    sourceTree(src)
    for (const v of VARIANTS) {
      t.test(v.name, async t => {
        const { img, truth } = buildExtImage(t, top, src, v.name.replace(/\W+/g, '-'), v.sizeMiB, v.args, { bigTime: v.bigTime })
        const fs = await openExtImage(t, img)
        t.equal(fs.kind, v.kind, 'kind as blkid names it')
        t.same(fs.warnings, [], 'a cleanly unmounted filesystem: no warnings')
        // the test covers what it claims: an htree directory, inline files where asked
        t.match(run('debugfs', ['-R', 'htree /many', img]).out, /Root node dump/, '/many is an htree directory')
        for (const [cmd, re, what] of v.proofs) t.match(run('debugfs', ['-R', cmd, img]).out, re, what)
        const r = await compareAll(fs, img, truth, v.inline === true)
        t.same(r.problems.slice(0, 20), [], `every file's stat, content, runs, target, xattrs and entries equal the kernel's (${r.problems.length} differences)`)
        t.same(
          [...truth.keys()].filter(p => !r.seen.has(p)),
          [],
          'every file the kernel shows was visited',
        )
        t.ok(r.files > 5300, `${r.files} regular files compared`)
        t.ok(r.holes >= 18 << 20, `sparse files keep their holes in runs() (${r.holes} bytes)`)
        t.ok(r.xattrFiles >= 3, `${r.xattrFiles} files with xattrs or ACLs compared`)
      })
    }
  }
}
