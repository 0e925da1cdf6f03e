// optimize with a writer that damages its own output: one bit flipped in the
// last data block of every extent (plausible, silent damage), which only the
// read-back proof can catch. For the tests of what a failed self-check does.

import type { Test } from 'tap'

/** The optimize module, loaded with that damaging writer in place of the real one. */
export async function optimizeWithBrokenWriter(t: Test): Promise<typeof import('../src/optimize/optimize.js')> {
  const real = await import('../src/archive/emit.js')
  const brokenWriter = await t.mockImport<typeof import('../src/archive/write-archive.js')>('../src/archive/write-archive.js', {
    '../src/archive/emit.js': {
      ...real,
      emitOptimized: (...args: Parameters<typeof real.emitOptimized>) => {
        const out = args[3]
        args[3] = {
          write: (b: Uint8Array) => {
            // An extent ("VMAE") with data: flip a bit near its end.
            if (b.length > 4096 && b[0] === 0x56 && b[3] === 0x45) b[b.length - 100]! ^= 1
            return out.write(b)
          },
        }
        return real.emitOptimized(...args)
      },
    },
  })
  return t.mockImport<typeof import('../src/optimize/optimize.js')>('../src/optimize/optimize.js', {
    '../src/archive/write-archive.js': brokenWriter,
  })
}
