import { open, type FileHandle } from 'node:fs/promises'
import type { TrimDisk } from './disk.js'

/** A raw image file as a TrimDisk (tests, `info --free-space` on raw images). Close it when done. */
export interface FileDisk extends TrimDisk {
  close(): Promise<void>
}

export async function openFileDisk(path: string, name: string): Promise<FileDisk> {
  const fh: FileHandle = await open(path, 'r')
  const size = (await fh.stat()).size
  return {
    name,
    size,
    async read(buf: Buffer, offset: number): Promise<void> {
      let done = 0
      while (done < buf.length) {
        const { bytesRead } = await fh.read(buf, done, buf.length - done, offset + done)
        if (bytesRead === 0) {
          buf.fill(0, done)
          return
        }
        done += bytesRead
      }
    },
    close: () => fh.close(),
  }
}
