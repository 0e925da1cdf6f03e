// 4Kn disks (4096-byte logical sectors): the VMA does not record a disk's
// sector size, so the trim must tell from the layout. Real tables written by
// sfdisk on a loop device with --sector-size 4096: a GPT (its header at 4096)
// is read with 4096-byte sectors and its ext4 partition trims where it really
// is; an MBR, whose entries read in 512-byte sectors would put the partition
// at an eighth of its place, is a doubt: the disk is left untouched and the
// report says why. A disk with GPT headers for both sizes is a doubt too.

import t, { type Test } from 'tap'
import { closeSync, openSync, readSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { planImage as planOf, run } from './trim-helpers.js'
import { needTools, skipHere } from './tools.js'

const MiB = 1 << 20

function mustRun(cmd: string, args: string[], input?: string): string {
  const r = run(cmd, input === undefined ? args : ['-c', `printf '%s' "$0" | ${cmd} ${args.join(' ')}`, input])
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.out}`)
  return r.out
}

/**
 * A 64 MiB image partitioned by sfdisk on a 4096-byte-sector loop device,
 * with an ext4 made in its one partition; the partition's byte offset.
 */
function fourKn(t: Test, dir: string, label: 'dos' | 'gpt'): { img: string; start: number; size: number } | undefined {
  const img = join(dir, `${label}.img`)
  mustRun('truncate', ['-s', '64M', img])
  const loop = run('losetup', ['-f', '--show', '--sector-size', '4096', img])
  if (loop.status !== 0) {
    skipHere(t, `no loop device with 4096-byte sectors here: ${loop.out.trim()}`)
    return undefined
  }
  const dev = loop.out.trim()
  try {
    t.equal(run('blockdev', ['--getss', dev]).out.trim(), '4096', 'the loop device has 4096-byte logical sectors')
    run('sh', ['-c', `printf 'label: ${label}\\nstart=256, type=${label === 'dos' ? '83' : 'L'}\\n' | sfdisk -q --no-reread ${dev}`])
    const dump = JSON.parse(run('sfdisk', ['-J', dev]).out) as { partitiontable: { sectorsize?: number; partitions: { start: number; size: number }[] } }
    const p = dump.partitiontable.partitions[0]!
    const start = p.start * 4096
    const size = p.size * 4096
    mustRun('mkfs.ext4', ['-q', '-F', '-b', '4096', '-E', `offset=${start}`, img, `${size / 4096}`])
    return { img, start, size }
  } finally {
    run('losetup', ['-d', dev])
  }
}

const skip = needTools('losetup', 'sfdisk', 'mkfs.ext4', 'blockdev', 'sgdisk')

t.test('a 4Kn MBR disk (sfdisk on a 4096-byte-sector loop device) is a doubt: untouched, and the report says why', { skip }, async t => {
  const dir = t.testdir()
  const made = fourKn(t, dir, 'dos')
  if (!made) return
  t.equal(made.start, MiB, 'sfdisk put the partition at LBA 256 = 1 MiB')
  const p = await planOf(made.img)
  const v = p.report.disks[0]?.volumes.find(x => x.id === 'disk')
  t.equal(v?.decision, 'skip', `the whole disk is skipped (${v?.reason ?? JSON.stringify(p.report.disks[0]?.volumes.map(x => [x.id, x.offset, x.decision, x.reason]))})`)
  t.match(v?.reason, /MBR whose entries also fit the disk in 4096-byte sectors, where p1 \(at 1048576\) holds ext superblock at 1024.*ambiguous, skipped/, 'the reason names the 4096-byte reading')
  t.notOk(
    p.report.disks[0]?.volumes.some(x => x.id === 'p1' && x.offset === made.start / 8),
    'no partition is reported at the 512-byte reading of its entry',
  )
  t.same([...p.freeRanges('d')], [], 'nothing declared free')
})

t.test('a 4Kn GPT disk is read with 4096-byte sectors: its ext4 trims where it really is', { skip }, async t => {
  const dir = t.testdir()
  const made = fourKn(t, dir, 'gpt')
  if (!made) return
  const p = await planOf(made.img)
  const v = p.report.disks[0]?.volumes.find(x => x.id === 'p1')
  t.equal(v?.offset, made.start, `p1 is at ${made.start}, where sfdisk put it`)
  t.equal(v?.decision, 'trim', `and trims (${v?.reason ?? ''})`)
  const free = [...p.freeRanges('d')]
  t.ok(free.length > 0, 'free space is found')
  t.ok(
    free.every(([o, n]) => o >= made.start && o + n <= made.start + made.size),
    'every free range lies inside the partition',
  )
})

t.test('GPT headers for 512- and 4096-byte sectors on one disk: a doubt', { skip }, async t => {
  const dir = t.testdir()
  const made = fourKn(t, dir, 'gpt')
  if (!made) return
  // A 512-byte-sector GPT written by sgdisk on another image: its LBA 1 (bytes 512-1023) is planted as a stale header.
  const other = join(dir, 'other.img')
  mustRun('truncate', ['-s', '64M', other])
  mustRun('sgdisk', ['-o', '-n', '1:2048:0', other])
  const hdr = Buffer.alloc(512)
  const fo = openSync(other, 'r')
  readSync(fo, hdr, 0, 512, 512)
  closeSync(fo)
  t.equal(hdr.toString('latin1', 0, 8), 'EFI PART', "sgdisk's header is at 512")
  const fd = openSync(made.img, 'r+')
  writeSync(fd, hdr, 0, 512, 512)
  closeSync(fd)
  const p = await planOf(made.img)
  const v = p.report.disks[0]?.volumes.find(x => x.id === 'disk')
  t.equal(v?.decision, 'skip', `the whole disk is skipped (${v?.reason})`)
  t.match(v?.reason, /GPT headers at 512 .* and at 4096 .*: ambiguous, skipped/, 'the reason names both')
  t.same([...p.freeRanges('d')], [], 'nothing declared free')
})
