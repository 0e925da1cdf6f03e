// vma-opt share FILE...: makes existing archives share their identical
// blocks, without rewriting them (a dump directory after the fact, VMs
// cloned from one template). Each file, in the order given, shares with the
// ones before it; one index of the distinct blocks seen so far serves all.

import { dirname } from 'node:path'
import { ShareSource, whyCannotShare, type ShareResult } from './share-blocks.js'

export interface FileShared extends ShareResult {
  file: string
}

/** Shares each of `files` with those before it; `why` when the filesystem cannot. */
export async function shareFiles(files: string[], progress?: (done: FileShared) => void): Promise<{ files: FileShared[]; why?: string }> {
  const why = files.length ? await whyCannotShare(dirname(files[0]!), files) : undefined
  if (why) return { files: [], why }
  const src = await ShareSource.create(files)
  const out: FileShared[] = []
  for (let i = 0; i < files.length; i++) {
    const r = i === 0 ? (await src.add(0), { shared: 0, differ: 0 }) : await src.shareInto(files[i]!, i)
    const done = { file: files[i]!, ...r }
    out.push(done)
    progress?.(done)
  }
  return { files: out }
}
