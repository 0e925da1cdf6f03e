// ext2/3/4 variants built at test time (see trim-built-check.ts): 4 KiB and
// 1 KiB blocks, ext2, ext3.
import t from 'tap'
import { join } from 'node:path'
import { TOOLS_MISSING, buildExt, checkBuiltExt } from './trim-built-check.js'

const VARIANTS: { name: string; kind: string; args: string[] }[] = [
  { name: 'ext4, 4 KiB blocks, metadata_csum 64bit flex_bg', kind: 'ext4', args: ['-t', 'ext4', '-b', '4096'] },
  { name: 'ext4, 1 KiB blocks', kind: 'ext4', args: ['-t', 'ext4', '-b', '1024'] },
  { name: 'ext2', kind: 'ext2', args: ['-t', 'ext2', '-b', '4096'] },
  { name: 'ext3, 1 KiB blocks, block maps', kind: 'ext3', args: ['-t', 'ext3', '-b', '1024'] },
]

if (TOOLS_MISSING.length) t.plan(0, `missing tools: ${TOOLS_MISSING.join(', ')} (Debian packages e2fsprogs, zerofree)`)
else {
  for (const v of VARIANTS) {
    t.test(v.name, async t => {
      const dir = t.testdir()
      const img = join(dir, 'fs.img')
      const shas = buildExt(t, dir, img, 32 << 20, v.args)
      await checkBuiltExt(t, dir, img, shas, v.kind)
    })
  }
}
