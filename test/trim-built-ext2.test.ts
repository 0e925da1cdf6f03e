// ext4 variants built at test time (see trim-built-check.ts): bigalloc,
// meta_bg with many groups, uninit_bg (crc16 descriptors, BLOCK_UNINIT), 64 KiB blocks.
import { type ExtVariant, testExtVariants } from './trim-built-check.js'

const VARIANTS: ExtVariant[] = [
  { name: 'bigalloc, 16 KiB clusters', kind: 'ext4', args: ['-t', 'ext4', '-O', 'bigalloc', '-C', '16384'] },
  { name: 'meta_bg, 1 KiB blocks, 20 groups', kind: 'ext4', args: ['-t', 'ext4', '-b', '1024', '-g', '2048', '-O', 'meta_bg,^resize_inode'] },
  { name: 'uninit_bg, crc16 descriptors', kind: 'ext4', args: ['-t', 'ext4', '-O', '^metadata_csum,uninit_bg', '-g', '2048', '-b', '1024'] },
  { name: '64 KiB blocks', kind: 'ext4', args: ['-t', 'ext4', '-b', '65536'] },
]

testExtVariants(VARIANTS)
