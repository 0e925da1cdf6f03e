// The Debian packages (issues #16, #25), built once by
// packaging/deb/build-deb.mjs from this checkout's dist/ (npm ci built it) and
// shared by every check: the architecture package (the zstd-napi binding in
// it) and the all package (without): their control data, contents, lintian's
// verdict (run in the background while the rest goes on), the unpacked trees
// run, the manuals rendered by man. With CI=true as root (or
// VMA_OPT_DEB_INSTALL=1) the architecture package is also installed for real
// with apt-get, asked which zstd decoder it uses, used to optimize a .vma.zst
// that Proxmox's vma then restores to the exact sums, used through the hook
// wrapper, upgraded, removed (configuration kept) and purged (nothing left),
// and the machine is left as it was found.

import t, { type Test } from 'tap'
import { skipHere } from './tools.js'
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expectedOptimized, makeContent, makeVma } from './fixtures/make-vma.js'
import { ROOT, SHARED, cliEnv, expected, haveShared } from './helpers.js'
import { haveTool, proxmoxVma } from './tools.js'
import { assertProxmoxReads } from './proxmox-vma.js'

// lintian, apt and man-db's trigger are slow on a busy machine; being killed
// halfway through dpkg would leave the package installed, so wait longer
// than tap's default rather than that.
t.setTimeout(900_000)

const has = haveTool
const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string
const skip = !has('dpkg-deb') ? 'dpkg-deb is not installed (Debian package dpkg)' : !existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js')) ? 'dist/ is not built (npm run build)' : false
const realInstall = (process.env.CI === 'true' || process.env.VMA_OPT_DEB_INSTALL === '1') && process.getuid?.() === 0

function sh(cmd: string, args: string[], o: SpawnSyncOptions = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: cliEnv(), maxBuffer: 64 << 20, ...o })
  return { status: r.status, out: String(r.stdout ?? ''), err: String(r.stderr ?? ''), error: r.error }
}

const devices = [
  { name: 'drive-efidisk0', size: 540672, data: makeContent(540672, 4) },
  { name: 'drive-scsi0', size: 1 << 20, data: makeContent(1 << 20, 5) },
]
const BASE = 'vzdump-qemu-100-2026_11_21-22_46_19'

function dumpDir(dir: string) {
  mkdirSync(join(dir, 'dump'), { recursive: true })
  const target = join(dir, 'dump', `${BASE}.vma`)
  const v = makeVma({ devices, order: 'interleaved' })
  writeFileSync(target, v.buf)
  return { target, uuid: v.uuid, env: ['LC_ALL=C', 'STOREID=local', `DUMPDIR=${join(dir, 'dump')}`, 'VMTYPE=qemu', `TARGET=${target}`] }
}

/** A control file's fields, each value as `dpkg-deb -f DEB FIELD` prints it (continuation lines kept). */
function controlFields(text: string): Map<string, string> {
  const out = new Map<string, string>()
  let last = ''
  for (const l of text.split('\n')) {
    const m = /^([A-Za-z0-9-]+): ?(.*)$/.exec(l)
    if (m) out.set((last = m[1]!), m[2]!)
    else if (l.startsWith(' ') && last) out.set(last, `${out.get(last)}\n${l}`)
  }
  return out
}

/** Runs a hook wrapper as vzdump does: no PATH, only vzdump's variables. */
const vzdump = (hook: string, env: string[], phase: string[]) => sh('/usr/bin/env', ['-i', ...env, hook, ...phase])

/** lintian's E: and W: lines for the packages, from a run in the background (it takes as long as everything else here). */
function lintianLater(debs: string[]): Promise<{ tags: string[]; out: string }> {
  return new Promise(resolve => {
    let out = ''
    const p = spawn('lintian', ['--no-cfg', '--display-level', '>=warning', ...debs], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    p.stdout.on('data', c => (out += c))
    p.on('close', () => resolve({ tags: out.split('\n').filter(l => /^[EW]: /.test(l)), out }))
  })
}

const arch = has('dpkg') ? sh('dpkg', ['--print-architecture']).out.trim() : ''

t.test('the Debian packages', { skip }, async t => {
  const out = t.testdir()
  const b = sh(process.execPath, [join(ROOT, 'packaging', 'deb', 'build-deb.mjs'), '--no-build', '--out', out])
  t.equal(b.status, 0, `build-deb: ${b.err}`)
  const all = join(out, `vma-opt_${version}_all.deb`)
  const native = join(out, `vma-opt_${version}_${arch}.deb`)
  t.ok(existsSync(all), `wrote ${all}`)
  t.ok(existsSync(native), `wrote ${native}`)
  const lintian = has('lintian') ? lintianLater([native, all]) : undefined

  t.test('control data: dependencies, no maintainer script but postrm', async t => {
    for (const [deb, a] of [
      [all, 'all'],
      [native, arch],
    ] as const) {
      // Every field from one dpkg-deb run (a process costs seconds on a busy machine).
      const fields = controlFields(sh('dpkg-deb', ['-f', deb]).out)
      const field = (f: string) => fields.get(f) ?? ''
      t.equal(field('Package'), 'vma-opt')
      t.equal(field('Version'), version)
      t.equal(field('Architecture'), a)
      t.equal(field('Recommends'), 'lzop')
      for (const f of ['Pre-Depends', 'Suggests', 'Conflicts', 'Provides']) t.equal(field(f), '', `${a}: no ${f}`)
      const about = field('Description')
      for (const what of ['optimize', 'verify', '--trim', 'reverse deltas', 'diff, apply', 'serve', 'NBD', 'ls,', 'get', 'vzdump hook']) t.match(about, what, `${a}: the description names ${what}`)
      const ctrl = sh('sh', ['-c', `dpkg-deb --ctrl-tarfile "$1" | tar -t`, 'sh', deb]).out.split('\n').filter(Boolean).sort()
      t.same(ctrl, ['./', './control', './md5sums', './postrm'])
    }
    t.equal(controlFields(sh('dpkg-deb', ['-f', all]).out).get('Depends'), 'nodejs (>= 20.19), zstd', 'all: node and the zstd program')
    // Node-API is stable across node versions: no upper bound; the libraries binding.node links, with the versions of the symbols it uses.
    const nativeFields = controlFields(sh('dpkg-deb', ['-f', native]).out)
    const depends = nativeFields.get('Depends') ?? ''
    t.match(depends, /^nodejs \(>= 20\.19\), zstd, /, `${arch}: node and the zstd program (output is compressed by it)`)
    for (const lib of ['libc6', 'libstdc++6', 'libgcc-s1'])
      t.match(depends, new RegExp(`(^|, )${lib.replace(/[+]/g, '\\+')} \\(>= [0-9.]+\\)(,|$)`), `${arch}: Depends on ${lib} with a minimum version`)
    t.match(nativeFields.get('Description'), /libzstd/, `${arch}: says it decodes zstd in process`)
    const postrm = sh('sh', ['-c', `dpkg-deb --ctrl-tarfile "$1" | tar -xO ./postrm`, 'sh', native]).out
    t.notMatch(postrm, /\b(wget|curl|apt-get|apt|npm|git)\b/, 'postrm downloads nothing')
    const commands = postrm.replace(/<<MSG[\s\S]*?\nMSG\n/, '').match(/^\s*(rm|mv|sed|cp|ln)\b.*$/gm)
    t.same(
      commands?.map(c => c.trim()),
      ['rm -rf /etc/vma-opt'],
      'and deletes only /etc/vma-opt (on purge, tested below), editing nothing',
    )
  })

  t.test('contents: the program, production modules only, launcher, wrapper, manuals, docs; the binding in the architecture package', async t => {
    const list = sh('dpkg-deb', ['-c', all]).out
    for (const p of [
      './usr/bin/vma-opt',
      './usr/sbin/vzdump-vma-opt',
      './usr/lib/vma-opt/package.json',
      './usr/lib/vma-opt/bin/vma-opt',
      './usr/lib/vma-opt/dist/src/cli/main.js',
      './usr/lib/vma-opt/dist/src/hook/hook-main.js',
      './usr/share/man/man1/vma-opt.1.gz',
      './usr/share/man/man8/vzdump-vma-opt.8.gz',
      './usr/share/doc/vma-opt/changelog.gz',
      './usr/share/doc/vma-opt/copyright',
      './usr/share/doc/vma-opt/README.md',
    ]) {
      t.match(list, new RegExp(` ${p.replace(/[.]/g, '\\.')}(\\n| )`), p)
    }
    // Production: neither dev nor optional (the optional zstd-napi binding is native code, only in the architecture package).
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')).packages as Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }>
    const prod = Object.entries(lock)
      .filter(([k, v]) => k && !v.dev && !v.optional && !v.devOptional)
      .map(([k]) => k)
      .sort()
    t.notMatch(list, /node_modules\/zstd-napi\//, 'all: no native binding')
    const shipped = (l: string) => [...l.matchAll(/ \.\/usr\/lib\/vma-opt\/((?:node_modules\/(?:@[^/]+\/)?[^/]+\/)+)package\.json\n/g)].map(m => m[1]!.replace(/\/$/, '')).sort()
    t.same(shipped(list), prod, 'all: exactly the production packages package-lock.json pins')
    t.notMatch(list, /node_modules\/(typescript|tap|@types)\//, 'no dev dependency')
    t.notMatch(list, /\.d\.ts\n|\.ts\n/, 'no TypeScript sources or declarations')

    // The architecture package: the same files, plus the three that load the binding, nothing of what builds it.
    const files = (l: string) =>
      l
        .split('\n')
        .map(x => / (\.\/\S*)/.exec(x)?.[1])
        .filter((x): x is string => x !== undefined)
    const nativeList = sh('dpkg-deb', ['-c', native]).out
    const napi = './usr/lib/vma-opt/node_modules/zstd-napi/'
    t.same(
      files(nativeList).filter(f => !files(list).includes(f)),
      [napi, `${napi}binding.js`, `${napi}build/`, `${napi}build/Release/`, `${napi}build/Release/binding.node`, `${napi}package.json`],
      `${arch}: the all package's files and the binding`,
    )
    t.same(shipped(nativeList), [...prod, 'node_modules/zstd-napi'].sort(), `${arch}: the production packages and zstd-napi, not its build-time dependencies`)
  })

  t.test('unpacked with dpkg -x: the CLI runs with the decoder each package promises, the wrapper exits 0 early, the manuals render', async t => {
    // Outside the checkout: node would otherwise find the checkout's node_modules above the unpacked tree.
    const tmp = mkdtempSync(join(tmpdir(), 'vma-opt-deb-x-'))
    t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
    const root = join(tmp, 'root')
    const fallback = join(tmp, 'root-all')
    t.equal(sh('dpkg-deb', ['-x', native, root]).status, 0)
    t.equal(sh('dpkg-deb', ['-x', all, fallback]).status, 0)
    const lib = join(root, 'usr', 'lib', 'vma-opt')
    t.equal(sh(process.execPath, [join(lib, 'bin', 'vma-opt'), '--version']).out.trim(), version)
    const details = sh(process.execPath, [join(lib, 'bin', 'vma-opt'), '--version', '--verbose']).out
    t.match(details, /^zstd decoder: libzstd [0-9.]+ in process \(zstd-napi binding\)$/m, `${arch}: its own binding decodes zstd`)
    const binding = join(lib, 'node_modules', 'zstd-napi', 'build', 'Release', 'binding.node')
    t.notMatch(sh('readelf', ['-S', '-W', binding]).out, /\.symtab|\.debug_/, 'binding.node is stripped')
    const without = sh(process.execPath, [join(fallback, 'usr', 'lib', 'vma-opt', 'bin', 'vma-opt'), '--version', '--verbose']).out
    t.match(without, /^zstd decoder: the zstd program \(\S+\): the zstd-napi binding did not load: /m, 'all: the zstd program decodes zstd')
    const { target } = dumpDir(out)
    const v = sh(process.execPath, [join(lib, 'bin', 'vma-opt'), 'verify', target])
    t.equal(v.status, 0, v.err)
    t.match(v.out, /: ok: 2 devices/)
    const w = vzdump(join(root, 'usr', 'sbin', 'vzdump-vma-opt'), ['LC_ALL=C', 'STOREID=local'], ['job-init'])
    t.same([w.status, w.out, w.err], [0, '', ''], 'job-init: exit 0, nothing printed')
    const wrapper = readFileSync(join(root, 'usr', 'sbin', 'vzdump-vma-opt'), 'utf8')
    t.match(wrapper, /\n {2}PATH=\S+ "\$node" "\$entry" '--options-file' '\/etc\/vma-opt\/hook\.conf' "\$@"\n/, 'runs the hook with the options file')
    t.match(wrapper, /done < '\/etc\/vma-opt\/hook\.conf'\n/, 'and reads the hook it chains from the same file')
    if (!has('groff')) return skipHere(t, 'groff is not installed: the manuals are not rendered')
    for (const page of [join('man1', 'vma-opt.1.gz'), join('man8', 'vzdump-vma-opt.8.gz')]) {
      const file = join(root, 'usr', 'share', 'man', page)
      const r = sh('sh', ['-c', 'gzip -dc "$1" | groff -man -Tutf8 -ww -z', 'sh', file])
      t.same([r.status, r.err], [0, ''], `${page}: groff renders it without a warning`)
      // As a user reads it: man -l, no formatting; Markdown's marks must not show.
      const text = has('man')
        ? sh('man', ['-l', file], { env: cliEnv({ MANWIDTH: '80', MAN_KEEP_FORMATTING: '', PAGER: 'cat' }) }).out
        : sh('sh', ['-c', 'gzip -dc "$1" | groff -man -Tascii -P-cbou 2>/dev/null', 'sh', file]).out
      t.ok(text.length > 1000, `${page}: rendered`)
      t.same(
        text.split('\n').filter(l => /`|\*\*|\*[A-Za-z][^*\n]*\*/.test(l)),
        [],
        `${page}: no backtick, **bold** or *emphasis* marks left`,
      )
    }
    const text = sh('sh', ['-c', 'gzip -dc "$1" | groff -man -Tascii -P-cbou 2>/dev/null', 'sh', join(root, 'usr', 'share', 'man', 'man1', 'vma-opt.1.gz')]).out
    for (const cmd of ['info', 'optimize', 'verify', 'unpack', 'cat', 'pack', 'compare', 'hook install', 'hook uninstall']) t.match(text, `vma-opt ${cmd}`, `vma-opt(1) has ${cmd}`)
    t.match(text, /EXIT STATUS[\s\S]*141/, 'vma-opt(1) has the exit status table of spec/cli.md')
    t.match(text, '--zstd-threads', 'and the options of --help')
  })

  t.test('installed with apt, used, upgraded, removed, purged', { skip: realInstall ? false : 'only with CI=true as root (or VMA_OPT_DEB_INSTALL=1): installs into this system' }, async t => {
    asFound(t, out)
    // In a subtest of its own, so that its teardowns run before the machine is restored.
    await t.test('from a clean state', async t => {
      t.teardown(() => void sh('dpkg', ['-P', 'vma-opt']))
      await installed(t, native, out)
    })
  })

  t.test('lintian reports no error and no warning', { skip: lintian ? false : 'lintian is not installed (Debian package lintian)' }, async t => {
    const r = await lintian!
    t.same(r.tags, [], 'no E: or W: tags, in either package')
    t.comment(`lintian: ${r.out.trim() || 'clean'}`)
  })
})

/**
 * Leaves the machine as the test found it: a vma-opt package already
 * installed (say, by an earlier run killed halfway) is saved with
 * dpkg-repack, purged for the test and reinstalled after it; /etc/vma-opt and
 * /etc/vzdump.conf are set aside and put back. So nothing found here makes
 * the install test skip or shrink.
 */
function asFound(t: Test, out: string): void {
  const undo: (() => void)[] = []
  const status = sh('dpkg-query', ['-W', '-f', '${Status}', 'vma-opt']).out
  if (status === 'install ok installed') {
    const saved = join(out, 'found')
    mkdirSync(saved)
    const r = sh('dpkg-repack', ['vma-opt'], { cwd: saved })
    const found = readdirSync(saved).find(f => f.endsWith('.deb'))
    t.ok(r.status === 0 && found, `dpkg-repack saved the vma-opt found installed: ${r.err}`)
    t.equal(sh('dpkg', ['-P', 'vma-opt']).status, 0, 'the vma-opt found installed is purged for the test')
    if (found) undo.push(() => void sh('dpkg', ['-i', '--force-depends', join(saved, found)]))
  } else if (status !== '') {
    // Half installed or configured: nothing sound to save; the test purges it.
    t.comment(`a vma-opt package in state '${status}' was here: purged, not restored`)
    sh('dpkg', ['-P', 'vma-opt'])
  }
  // man-db's trigger rebuilds its whole index after each install, upgrade
  // and removal (most of this test's time on a busy machine): without this
  // flag file (debconf's man-db/auto-update) it returns at once. Put back after.
  for (const p of ['/etc/vma-opt', '/etc/vzdump.conf', '/var/lib/man-db/auto-update']) {
    if (!existsSync(p)) continue
    const aside = `${p}.vma-opt-test-${process.pid}`
    renameSync(p, aside)
    undo.unshift(() => {
      rmSync(p, { recursive: true, force: true })
      renameSync(aside, p)
    })
  }
  t.teardown(() => {
    for (const u of undo) u()
  })
}

async function installed(t: Test, deb: string, out: string) {
  const node = sh('dpkg-query', ['-W', '-f', '${Version}', 'nodejs']).out
  const ok = node !== '' && sh('dpkg', ['--compare-versions', node, 'ge', '20.19']).status === 0
  if (ok) {
    const r = sh('apt-get', ['install', '-y', '-q', deb], { env: { ...cliEnv(), DEBIAN_FRONTEND: 'noninteractive' } })
    t.equal(r.status, 0, `apt-get install ${deb}: ${r.err}`)
  } else {
    // Depends: nodejs (>= 20.19) cannot be met by apt here: say so rather than pretend.
    t.comment(`nodejs from dpkg is ${node || 'not installed'}, not >= 20.19 (node here: ${process.version} from outside dpkg): installing with dpkg -i --force-depends`)
    t.equal(sh('dpkg', ['-i', '--force-depends', deb]).status, 0)
  }
  t.equal(sh('/usr/bin/vma-opt', ['--version']).out.trim(), version, '/usr/bin/vma-opt --version')
  // The fast path reached the installed program: libzstd decodes zstd in process, by default.
  t.match(
    sh('/usr/bin/vma-opt', ['--version', '--verbose']).out,
    /^node v\S+ \(\/usr\/bin\/node\)\nzstd decoder: libzstd [0-9.]+ in process \(zstd-napi binding\)$/m,
    '/usr/bin/vma-opt --version --verbose: libzstd in process, under the system node',
  )
  await optimizedZst(t, out)
  const { target, uuid, env } = dumpDir(out)
  const v = sh('/usr/bin/vma-opt', ['verify', target])
  t.equal(v.status, 0, `/usr/bin/vma-opt verify: ${v.err}`)
  const init = vzdump('/usr/sbin/vzdump-vma-opt', ['LC_ALL=C', 'STOREID=local'], ['job-init'])
  t.same([init.status, init.out, init.err], [0, '', ''], '/usr/sbin/vzdump-vma-opt job-init: exit 0, nothing printed')

  // Packaged hook install: only /etc/vma-opt/hook.conf and the conf line (never over a hook.conf we did not make).
  const conf = join(out, 'vzdump.conf')
  writeFileSync(conf, 'bwlimit: 0\n')
  const ownEtc = !existsSync('/etc/vma-opt')
  if (ownEtc) {
    t.teardown(() => rmSync('/etc/vma-opt', { recursive: true, force: true }))
    // A vzdump.conf other than /etc/vzdump.conf: the package's wrapper only when asked by --path.
    const i = sh('/usr/bin/vma-opt', ['hook', 'install', '--vzdump-conf', conf, '--path', '/usr/sbin/vzdump-vma-opt', '--keep-uuid'])
    t.equal(i.status, 0, i.err)
    t.equal(readFileSync(conf, 'utf8'), 'bwlimit: 0\nscript: /usr/sbin/vzdump-vma-opt\n')
    t.match(readFileSync('/etc/vma-opt/hook.conf', 'utf8'), /\n--keep-uuid\n$/)
    // Without --path, a scratch vzdump.conf gets a wrapper of its own beside it; nothing under /etc changes (#25).
    const scratch = join(out, 'scratch')
    mkdirSync(scratch)
    const conf2 = join(scratch, 'vzdump.conf')
    writeFileSync(conf2, 'bwlimit: 0\n')
    const globalBefore = readFileSync('/etc/vma-opt/hook.conf', 'utf8')
    const i2 = sh('/usr/bin/vma-opt', ['hook', 'install', '--vzdump-conf', conf2, '--trim'])
    t.equal(i2.status, 0, i2.err)
    t.equal(readFileSync(conf2, 'utf8'), `bwlimit: 0\nscript: ${join(scratch, 'vzdump-vma-opt')}\n`, 'the scratch conf names the wrapper beside it')
    t.match(readFileSync(join(scratch, 'vzdump-vma-opt'), 'utf8'), /^node='\/usr\/bin\/node'$/m, "which runs the package's node")
    t.equal(readFileSync('/etc/vma-opt/hook.conf', 'utf8'), globalBefore, 'the global hook.conf is untouched')
    t.equal(sh('/usr/bin/vma-opt', ['hook', 'uninstall', '--vzdump-conf', conf2]).status, 0)
    t.notOk(existsSync(join(scratch, 'vzdump-vma-opt')), 'uninstall removes the scratch wrapper')
    // Another --path: a wrapper of its own (one vzdump job's --script), running the package's node and hook.
    const job = join(out, 'job-hook')
    t.equal(sh('/usr/bin/vma-opt', ['hook', 'install', '--path', job, '--trim']).status, 0, 'a job wrapper of its own')
    t.match(readFileSync(job, 'utf8'), /^node='\/usr\/bin\/node'$/m)
    t.match(readFileSync('/etc/vma-opt/hook.conf', 'utf8'), /\n--keep-uuid\n$/, 'the global options are untouched')
    t.equal(sh('/usr/bin/vma-opt', ['hook', 'uninstall', '--path', job]).status, 0)
    t.notOk(existsSync(job), 'and uninstall removes it')
    const end = vzdump('/usr/sbin/vzdump-vma-opt', env, ['backup-end', 'snapshot', '100'])
    t.equal(end.status, 0, end.out)
    t.ok(readFileSync(target).equals(expectedOptimized({ devices }, uuid)), 'backup-end optimized it, keeping the uuid as hook.conf says')
  } else t.comment('/etc/vma-opt exists here: the packaged hook install is not tried')

  // An upgrade keeps the wrapper path, so vzdump.conf stays valid.
  const tree = join(out, 'newer')
  t.equal(sh('dpkg-deb', ['-R', deb, tree]).status, 0)
  const control = join(tree, 'DEBIAN', 'control')
  writeFileSync(control, readFileSync(control, 'utf8').replace(/^Version: .*$/m, `Version: ${version}+upgrade1`))
  const newer = join(out, 'newer.deb')
  t.equal(sh('dpkg-deb', ['--root-owner-group', '-Znone', '-b', tree, newer]).status, 0, 'not compressed: xz took seconds')
  t.equal(sh('dpkg', ['-i', ...(sh('dpkg', ['--compare-versions', node || '0', 'ge', '20.19']).status === 0 ? [] : ['--force-depends']), newer]).status, 0, 'dpkg -i of a newer version')
  const again = dumpDir(join(out, 'again'))
  const end2 = vzdump('/usr/sbin/vzdump-vma-opt', again.env, ['backup-end', 'snapshot', '100'])
  t.equal(end2.status, 0, end2.out)
  t.match(end2.out, /optimized in/, 'the hook still works after the upgrade')
  if (ownEtc) t.ok(existsSync('/etc/vma-opt/hook.conf'), 'hook.conf survives the upgrade')

  // Removal with /etc/vzdump.conf still naming the hook: left alone, and the user is told.
  if (existsSync('/etc/vzdump.conf')) return t.comment('/etc/vzdump.conf exists here: removal is not tried against it')
  const text = 'bwlimit: 0\nscript: /usr/sbin/vzdump-vma-opt\n'
  writeFileSync('/etc/vzdump.conf', text)
  t.teardown(() => rmSync('/etc/vzdump.conf', { force: true }))
  const r = sh('dpkg', ['-r', 'vma-opt'])
  t.equal(r.status, 0)
  if (ownEtc) t.ok(existsSync('/etc/vma-opt/hook.conf'), 'remove keeps the configuration')
  t.match(r.err, /\/etc\/vzdump\.conf still says 'script: \/usr\/sbin\/vzdump-vma-opt'/, 'the user is told')
  t.equal(readFileSync('/etc/vzdump.conf', 'utf8'), text, 'vzdump.conf left as it is')
  t.notOk(existsSync('/usr/sbin/vzdump-vma-opt'))
  const p = sh('dpkg', ['-P', 'vma-opt'])
  t.equal(p.status, 0)
  t.equal(readFileSync('/etc/vzdump.conf', 'utf8'), text, "purge leaves the user's vzdump.conf as it is")
  t.notOk(existsSync('/etc/vma-opt'), 'purge deletes /etc/vma-opt with hook.conf')
  t.not(sh('dpkg', ['-L', 'vma-opt']).status, 0, 'dpkg -L: the package is unknown to dpkg')
  t.equal(sh('dpkg-query', ['-W', '-f', '${db:Status-Status}', 'vma-opt']).out, '', 'and has no status left (not even config-files)')
  for (const p of ['/usr/lib/vma-opt', '/usr/bin/vma-opt', '/usr/sbin/vzdump-vma-opt', '/usr/share/doc/vma-opt', '/usr/share/man/man1/vma-opt.1.gz']) t.notOk(existsSync(p), `${p} is gone`)
}

/** The installed vma-opt optimizes a .vma.zst Proxmox wrote, into a .vma.zst Proxmox's vma restores to the exact sums. */
async function optimizedZst(t: Test, out: string) {
  const vma = proxmoxVma()
  if (!haveShared) return skipHere(t, `the archives written by Proxmox's vma are not here (${SHARED})`)
  if (!vma.ok) return skipHere(t, vma.reason)
  const src = join(SHARED, 'two-disks.vma.zst')
  const dest = join(out, 'two-disks-optimized.vma.zst')
  const o = sh('/usr/bin/vma-opt', ['optimize', '-q', src, dest], { env: cliEnv({ VMA_OPT_ZSTD_DECODER: 'library' }) })
  t.equal(o.status, 0, `/usr/bin/vma-opt optimize of a .vma.zst, decoded by libzstd: ${o.err}`)
  const want = expected()['two-disks.vma']!
  const sums = (r: Record<string, { sha256: string }>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.sha256]))
  await assertProxmoxReads(t, vma.path, dest, { devices: sums(want.devices), configs: sums(want.configs) }, 'optimized by the installed package', {
    workDir: out,
    infoList: async f => sh('/usr/bin/vma-opt', ['info', '--list', f]).out,
  })
}
