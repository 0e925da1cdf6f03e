/** One guest disk as the planner sees it, in device byte offsets. */
export interface TrimDisk {
  name: string
  size: number
  /** Fills all of `buf` from device offset `offset` (absent data reads as zeros). */
  read(buf: Buffer, offset: number): Promise<void>
}
