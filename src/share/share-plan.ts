// What optimize --share-with does about sharing, decided before it writes:
// either why nothing can be shared (one line for the summary), or an index
// of the archives to share with, built while the new archive is written.

import { dirname } from 'node:path'
import { ShareSource, whyCannotShare, type ShareResult } from './share-blocks.js'
import { CloneSink, type PositionedSink } from './clone-sink.js'
import { findTool } from '../util/find-tool.js'

export class SharePlan {
  private constructor(
    readonly why: string | undefined,
    private readonly source: Promise<ShareSource> | undefined,
    private readonly others: string[],
    private readonly partial?: ShareSource,
  ) {
    source?.catch(() => undefined) // awaited by into(); a failure then is the error to report
  }

  /**
   * `dest`: where the archive goes (undefined for stdout); `compressed`: it is
   * written through a compressor, whose output no two days have in common.
   */
  static async start(others: string[], dest: string | undefined, compressed: boolean): Promise<SharePlan> {
    const why =
      dest === undefined
        ? 'an archive written to stdout cannot share blocks: nothing shared'
        : compressed
          ? 'a compressed archive cannot share blocks (write it uncompressed, compress: 0, and let the storage compress): nothing shared'
          : await whyCannotShare(dirname(dest), others)
    if (why) return new SharePlan(why, undefined, others)
    // The index is filled while the archive is written, and used as it fills (clone-sink).
    const src = await ShareSource.create(others)
    const done = (async () => {
      for (let i = 0; i < others.length; i++) await src.add(i)
      return src
    })()
    return new SharePlan(why, done, others, src)
  }

  /** Shares what `file` has in common with the others (nothing when `why` says so). */
  async into(file: string): Promise<ShareResult> {
    if (!this.source) return { shared: 0, differ: 0, why: this.why }
    return (await this.source).shareInto(file)
  }

  /**
   * Sharing while `temp` is written (clone-sink): the sink the data goes
   * through, and `finish`, after which `result` says what was shared.
   * Undefined when nothing can be shared.
   */
  async cloneInto(out: PositionedSink, temp: string): Promise<{ sink: CloneSink; finish(): Promise<ShareResult> } | undefined> {
    if (!this.source) return undefined
    const sink = await CloneSink.start(out, temp, this.others, this.partial!, this.source, findTool('xfs_io')!)
    return {
      sink,
      finish: async () => {
        const r = await sink.finish()
        return { shared: r.cloned, differ: 0, ...(r.why ? { why: `${r.why}: nothing shared` } : {}) }
      },
    }
  }

  /** Waits for the index being built (before giving up on an error elsewhere). */
  async settle(): Promise<void> {
    await this.source?.catch(() => undefined)
  }
}
