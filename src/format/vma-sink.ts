import type { ExtentHeader } from './extent-header.js'
import type { VmaHeader } from './header.js'

/** One blockinfo entry as the parser meets it. */
export interface ClusterEntry {
  devId: number
  cluster: number
  mask: number
  /** File offset of the first stored 4 KiB block of this cluster. */
  dataOffset: number
  /** File offset of the extent this entry is in. */
  extentOffset: number
  /** Blockinfo slot (0..58) within that extent. */
  slot: number
  /**
   * A DLT2 delta's check of this entry: the xxh64 of its stored bytes, as
   * its low and high 32 bits (numbers, so that announcing an entry
   * allocates nothing). `checked` is false (or absent, for entries made
   * outside the parser) in an archive and a DLT1 delta.
   */
  checked?: boolean
  checkLo?: number
  checkHi?: number
}

/**
 * What a VmaParser reports, in file order. A sink that throws stops the
 * parse; the error propagates to whoever fed the parser.
 *
 * `data` receives the stored blocks of the entry last announced by
 * `cluster`, in pieces of any size; the bytes are only valid during the call
 * (the parser's caller reuses its buffers), so copy what you keep.
 */
export interface VmaSink {
  header?(h: VmaHeader): void
  /** `raw` is the extent header's 512 bytes, valid only during the call. */
  extent?(e: ExtentHeader, offset: number, raw: Uint8Array): void
  /** A DLT2 delta's check sector (512 bytes, valid only during the call), after its extent's `extent` call. */
  checks?(sector: Uint8Array, extentOffset: number): void
  cluster?(entry: ClusterEntry): void
  data?(chunk: Uint8Array): void
  /** The current cluster's stored data is complete. */
  clusterEnd?(entry: ClusterEntry): void
  /** The stream ended cleanly at an extent boundary; `size` is its length. */
  end?(size: number): void
}
