// libzstd in this process, through the zstd-napi binding: an optional
// dependency (npm builds it from the zstd sources it bundles; the .deb does
// not carry it). Used to decode (input/libzstd); without it, vma-opt runs
// the zstd program instead, through a pipe. Output is still compressed by
// the zstd program: in process (ZSTD_c_rsyncable, same level and workers)
// it was no faster on this 2-core VM and held 14 MB more.
// Declared here rather than imported from the package's types: the package
// may be absent, and we use a few calls of it.

import { createRequire } from 'node:module'

/** [ZSTD_decompressStream's return value, bytes written to the output buffer, bytes taken from the input]. */
export type StreamResult = [number, number, number]

export interface ZstdDCtx {
  decompressStream(dst: Uint8Array, src: Uint8Array): StreamResult
  setParameter(param: number, value: number): void
}

export interface LibZstd {
  DCtx: new () => ZstdDCtx
  DParameter: { windowLogMax: number }
  versionString(): string
}

let binding: LibZstd | null | undefined
let whyNot = ''

/** The binding, or undefined (the reason in libzstdMissing()). Loaded once. */
export function libzstd(): LibZstd | undefined {
  if (binding === undefined) {
    try {
      binding = createRequire(import.meta.url)('zstd-napi/binding') as LibZstd
    } catch (e) {
      binding = null
      whyNot = (e as Error).message.split('\n')[0]!
    }
  }
  return binding ?? undefined
}

/** Why libzstd() is undefined. */
export function libzstdMissing(): string {
  return whyNot
}
