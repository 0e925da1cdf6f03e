// ext2/3/4 variants built at test time (see trim-built-check.ts): 4 KiB and
// 1 KiB blocks, ext2, ext3.
import { type ExtVariant, testExtVariants } from './trim-built-check.js'

const VARIANTS: ExtVariant[] = [
  { name: 'ext4, 4 KiB blocks, metadata_csum 64bit flex_bg', kind: 'ext4', args: ['-t', 'ext4', '-b', '4096'] },
  { name: 'ext4, 1 KiB blocks', kind: 'ext4', args: ['-t', 'ext4', '-b', '1024'] },
  { name: 'ext2', kind: 'ext2', args: ['-t', 'ext2', '-b', '4096'] },
  { name: 'ext3, 1 KiB blocks, block maps', kind: 'ext3', args: ['-t', 'ext3', '-b', '1024'] },
]

testExtVariants(VARIANTS)
