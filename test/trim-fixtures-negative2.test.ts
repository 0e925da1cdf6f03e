// Negative fixtures, second half, and the whole-disk positive: the volume in
// doubt is skipped with a reason and stays byte-identical, the control volume
// beside it is still trimmed.
import { testNegatives } from './trim-fixture-check.js'

testNegatives(6, undefined, ['pos-whole-disk-ext4'])
