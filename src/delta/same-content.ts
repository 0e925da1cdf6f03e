// Whether a cluster of NEW may be left out of a delta: its bytes inside NEW's
// device equal BASE's at the same place. diff's only decision about what a
// delta holds; the proof that follows does not trust it (it sums BASE's own
// bytes for every cluster left out).

export function sameContent(neu: Buffer, base: Buffer, at: number, length: number): boolean {
  return neu.compare(base, at, at + length, at, at + length) === 0
}
